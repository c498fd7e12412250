"""Request parameters checked against the route's own OpenAPI parameter schemas, so the document is the rule.

Covers the subset of JSON Schema the document uses: type string or integer, pattern, enum, minLength,
maxLength, minimum, maximum, format date / date-time (RFC 3339: with an offset), required. A violation is a
400 problem naming the parameter, and so is a query parameter the route does not declare (or one given
twice).
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime
from typing import Any

from aiohttp import web

from gateway.api.spec import ApiRoute, Handler
from gateway.queries.pagination import BadQuery

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _check(name: str, value: str, schema: dict[str, Any]) -> None:
    kind = schema.get("type", "string")
    if kind == "integer":
        if not re.fullmatch(r"-?[0-9]{1,19}", value):
            raise BadQuery(f"{name} must be an integer")
        number = int(value)
        if number < schema.get("minimum", number) or number > schema.get("maximum", number):
            raise BadQuery(f"{name} is out of range")
        return
    if "enum" in schema and value not in schema["enum"]:
        raise BadQuery(f"{name} must be one of {', '.join(schema['enum'])}")
    if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 10_000):
        raise BadQuery(f"{name} must be {schema.get('minLength', 0)}–{schema.get('maxLength', 10_000)} characters")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        raise BadQuery(f"{name} does not match {schema['pattern']}")
    fmt = schema.get("format")
    try:
        if fmt == "date":
            date.fromisoformat(value)
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ValueError(value)
        elif fmt == "date-time":
            if not _DATE_TIME.match(value):
                raise ValueError(value)
            datetime.fromisoformat(value.upper().replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        raise BadQuery(f"{name} must be an RFC 3339 {fmt}{' with a time zone' if fmt == 'date-time' else ''}") \
            from None


def check_parameters(route: ApiRoute, request: web.Request) -> None:
    declared = {p["name"] for p in route.parameters if p["in"] == "query"}
    for name in request.query:
        if name not in declared:
            raise BadQuery(f"unknown query parameter {name[:40]!r}; this route takes: {', '.join(sorted(declared))}")
        if len(request.query.getall(name)) > 1:
            raise BadQuery(f"query parameter {name} is given more than once")
    for parameter in route.parameters:
        name, where = parameter["name"], parameter["in"]
        source = request.match_info if where == "path" else request.query
        if name not in source:
            if parameter.get("required"):
                raise BadQuery(f"{name} is required")
            continue
        _check(name, source[name], parameter["schema"])


def validated(route: ApiRoute) -> Handler:
    """The route's handler behind its parameter check (keeping the handler's declared permission)."""

    @functools.wraps(route.handler)
    async def handler(request: web.Request) -> web.StreamResponse:
        check_parameters(route, request)
        return await route.handler(request)

    return handler
