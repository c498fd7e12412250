"""Query and path parameters of the API, read strictly: a bad value is a 400 problem naming the parameter."""

from __future__ import annotations

from datetime import date, datetime

from aiohttp import web

from gateway.queries.pagination import BadQuery, parse_limit

__all__ = ["BadQuery", "day", "instant", "integer_id", "limit", "optional", "text"]


def optional(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    return value if value not in (None, "") else None


def text(request: web.Request, name: str, *, max_length: int = 100) -> str | None:
    value = optional(request, name)
    if value is not None and len(value) > max_length:
        raise BadQuery(f"{name} is longer than {max_length} characters")
    return value


def limit(request: web.Request) -> int:
    return parse_limit(request.query.get("limit"))


def instant(request: web.Request, name: str) -> datetime | None:
    value = optional(request, name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise BadQuery(f"{name} must be a date-time with a time zone, e.g. 2026-03-01T00:00:00Z") from None
    if parsed.tzinfo is None:
        raise BadQuery(f"{name} must carry a time zone, e.g. 2026-03-01T00:00:00Z")
    if not 1900 <= parsed.year <= 2200:
        raise BadQuery(f"{name} is out of range")
    return parsed


def day(request: web.Request, name: str) -> date | None:
    value = optional(request, name)
    if value is None:
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise BadQuery(f"{name} must be a date (YYYY-MM-DD)") from None
    if not 1900 <= parsed.year <= 2200:
        raise BadQuery(f"{name} is out of range")
    return parsed


def integer_id(request: web.Request, name: str = "id") -> int:
    value = request.match_info[name]
    if not value.isdigit() or len(value) > 18:
        raise web.HTTPNotFound(text=f"no such {name}")
    return int(value)
