"""What every support page shares: the Jinja2 environment and its filters, the reader's language, rendering
with the security headers, reading the store in a worker thread, and the forms' CSRF check."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final, TypeVar
from urllib.parse import urlencode

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.access.guard import PRINCIPAL, session_of
from gateway.access.roles import Permission
from gateway.access.users import Principal
from gateway.domain.periods import to_local
from gateway.support.labels import DEFAULT, LANGUAGES, translate

SUPPORT_ENGINE: Final = web.AppKey("support_engine", Engine)
LANG_COOKIE: Final = "gw_lang"
T = TypeVar("T")

_env = Environment(loader=PackageLoader("gateway.support", "templates"), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


def _local(iso: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An ISO UTC instant as Finnish local time (support staff think in local days)."""
    return "" if not iso else to_local(datetime.fromisoformat(iso)).strftime(fmt)


def _money(value: Any) -> str:
    """An amount as Finnish invoices print it: 1 234,56 (a decimal comma, thin groups)."""
    if value in (None, ""):
        return ""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = f"{amount:,.2f}".replace(",", "\u00a0").replace(".", ",")
    return text


def _day(iso: str | None) -> str:
    """An ISO date as 31.3.2026."""
    if not iso:
        return ""
    year, month, day = iso[:10].split("-")
    return f"{int(day)}.{int(month)}.{year}"


def _last_day(iso: str | None) -> str:
    """The last day of a period whose end is exclusive (as periods are kept): 2026-04-01 → 31.3.2026."""
    if not iso:
        return ""
    return _day((date.fromisoformat(iso[:10]) - timedelta(days=1)).isoformat())


_env.filters["local"] = _local
_env.filters["money"] = _money
_env.filters["day"] = _day
_env.filters["last_day"] = _last_day


def lang_of(request: web.Request) -> str:
    asked = request.query.get("lang")
    if asked in LANGUAGES:
        return asked
    kept = request.cookies.get(LANG_COOKIE)
    return kept if kept in LANGUAGES else DEFAULT


def _url(request: web.Request, **changes: Any) -> str:
    """This page's URL with some query parameters changed (None removes one)."""
    query = {k: v for k, v in request.query.items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    return request.path + ("?" + urlencode(query) if query else "")


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    lang = lang_of(request)
    principal = request.get(PRINCIPAL)
    session = session_of(request)
    html = _env.get_template(template).render(
        t=lambda key: translate(key, lang), lang=lang, principal=principal, csrf=session.csrf if session else "",
        url=lambda **changes: _url(request, **changes), path=request.path,
        may_replay=isinstance(principal, Principal) and principal.may(Permission.REPLAY),
        may_reveal=isinstance(principal, Principal) and principal.may(Permission.REVEAL_IDENTITY_CODE),
        **context)
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                                     "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; "
                                                                "img-src 'self' data:; form-action 'self'",
                                     "Cache-Control": "no-store"})
    if request.query.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/support", samesite="Strict")
    return response


async def from_store(request: web.Request, work: Callable[[Session], T], *, write: bool = False) -> T:
    engine = request.app[SUPPORT_ENGINE]

    def run() -> T:
        with Session(engine, expire_on_commit=False) as session:
            if not write:
                return work(session)
            with session.begin():
                return work(session)

    return await asyncio.to_thread(run)


def check_csrf(request: web.Request, form: Any) -> None:
    session = session_of(request)
    if session is None:
        return  # a bearer-token caller sends no ambient credential to forge
    if not secrets.compare_digest(str(form.get("csrf", "")), session.csrf):
        raise web.HTTPForbidden(text="the form has expired; reload the page and try again")


