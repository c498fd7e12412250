"""The deny-by-default guard of the whole HTTP service.

Every request passes `guard` (a middleware of the main application, so it also sees the sub-applications'
routes). A route is reachable only if it is public (below) or its handler declares the permission it needs
with `@requires(...)`; any other route — one added later without a declaration included — answers 401 to an
unknown caller and 403 to a known one. Callers authenticate with `Authorization: Bearer <token>` anywhere, or
with the support pages' session cookie under /support/ (where forms also carry a CSRF token).

Responses to a caller who has not made an audited reveal go through `mask_identity_codes`, whatever the
handler put in them: a personal identity code never leaves in full by accident.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Middleware
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.access.masking import mask_identity_codes_bytes
from gateway.access.problems import problem_response
from gateway.access.roles import Permission
from gateway.access.sessions import COOKIE, SessionData, SessionSigner, configured_secret, stored_secret
from gateway.access.users import Principal, authenticate_token, principal_for_session

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

PRINCIPAL: Final = web.RequestKey("principal", Principal)
SESSION: Final = web.RequestKey("session", SessionData)
REVEALED: Final = web.RequestKey("revealed", bool)  # set by a handler that wrote its reveal to the audit log
LOGIN_PATH: Final = "/support/login"

_ACCESS_ATTR: Final = "__gateway_access__"
_PUBLIC: Final = "public"
_SELF_AUTHENTICATED: Final = "own-credentials"


class Guard:
    """The guard's state: where users live, and the session signer (made on first use: the database may be
    unmigrated when the service starts, and `serve` must start anyway)."""

    def __init__(self, engine: Engine, raw_settings: dict[str, Any]) -> None:
        self.engine = engine
        self.raw_settings = raw_settings
        self._signer: SessionSigner | None = None

    def signer(self) -> SessionSigner:
        if self._signer is None:
            self._signer = SessionSigner(configured_secret(self.raw_settings) or stored_secret(self.engine))
        return self._signer


_GUARD_OF_REQUEST: Final = web.RequestKey("access_guard", Guard)


def requires(permission: Permission) -> Callable[[H], H]:
    """Declare the permission a handler needs; without a declaration the guard denies every caller."""

    def mark(handler: H) -> H:
        setattr(handler, _ACCESS_ATTR, permission)
        return handler

    return mark


def public(handler: H) -> H:
    setattr(handler, _ACCESS_ATTR, _PUBLIC)
    return handler


def _fixed_rule(request: web.Request) -> str | None:
    """Routes of other modules whose access is decided here, by method and path."""
    method = "GET" if request.method == "HEAD" else request.method
    path = request.path
    if method == "GET" and path in ("/health", "/metrics", "/api/openapi.json"):
        return _PUBLIC
    if path == "/webhooks/payment-provider" and method == "POST":
        return _SELF_AUTHENTICATED  # the provider: the body's signature is checked by gateway.payments.webhook
    if path == "/soap/b2b":
        if method == "POST":
            return _SELF_AUTHENTICATED  # market parties: token or certificate checked by the SOAP endpoint
        if method == "GET" and "wsdl" in {k.lower() for k in request.query}:
            return _PUBLIC
    return None


def _rule(request: web.Request) -> str | Permission | None:
    fixed = _fixed_rule(request)
    if fixed is not None:
        return fixed
    match = request.match_info
    if match.http_exception is not None:
        return None
    return getattr(match.route.handler, _ACCESS_ATTR, None)  # type: ignore[no-any-return]


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


async def _authenticate(request: web.Request, config: Guard) -> tuple[Principal | None, SessionData | None]:
    token = _bearer(request)
    if token is not None:
        def by_token() -> Principal | None:
            with Session(config.engine) as session:
                return authenticate_token(session, token)
        return await asyncio.to_thread(by_token), None
    cookie = request.cookies.get(COOKIE)
    if cookie and request.path.startswith("/support/"):
        data = (await asyncio.to_thread(config.signer)).loads(cookie)
        if data is None:
            return None, None

        def by_session() -> Principal | None:
            with Session(config.engine) as session:
                return principal_for_session(session, data.user_id, data.token_prefix)
        return await asyncio.to_thread(by_session), data
    return None, None


def _wants_page(request: web.Request) -> bool:
    return request.path.startswith("/support/") and request.method in ("GET", "HEAD")


def _unauthenticated(request: web.Request) -> web.StreamResponse:
    if _wants_page(request):
        target = request.path_qs
        raise web.HTTPSeeOther(f"{LOGIN_PATH}?next={quote(target, safe='')}")
    return problem_response(401, "present a valid bearer token (Authorization: Bearer …)", kind="unauthenticated",
                            instance=request.path, headers={"WWW-Authenticate": 'Bearer realm="datahub-gateway"'})


def _forbidden(request: web.Request, principal: Principal, why: str) -> web.StreamResponse:
    if request.path.startswith("/support/"):
        return web.Response(status=403, content_type="text/html", charset="utf-8", text=(
            "<!doctype html><meta charset=utf-8><title>403</title><p>Pääsy estetty / Access denied: "
            f"{html.escape(why)}</p><p><a href=/support/messages>←</a></p>"))
    return problem_response(403, why, kind="forbidden", instance=request.path, role=principal.role.value)


def _masked(response: web.StreamResponse) -> web.StreamResponse:
    if isinstance(response, web.Response) and response.body is not None and isinstance(response.body, bytes):
        masked = mask_identity_codes_bytes(response.body)
        if masked != response.body:
            response.body = masked
    return response


def make_guard(config: Guard) -> Middleware:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[_GUARD_OF_REQUEST] = config
        rule = _rule(request)
        if rule in (_PUBLIC, _SELF_AUTHENTICATED):
            return await handler(request)
        principal, session = await _authenticate(request, config)
        if principal is None:
            return _unauthenticated(request)
        if rule is None:
            if request.match_info.http_exception is not None:
                return await handler(request)  # a known caller may learn that a path does not exist
            return _forbidden(request, principal, "this route declares no permission, so nobody may use it")
        assert isinstance(rule, Permission)
        if not principal.may(rule):
            return _forbidden(request, principal, f"role {principal.role.value} lacks the permission {rule.value}")
        request[PRINCIPAL] = principal
        if session is not None:
            request[SESSION] = session
        response = await handler(request)
        return response if request.get(REVEALED) else _masked(response)

    return guard


def install_guard(app: web.Application, engine: Engine, raw_settings: dict[str, Any]) -> None:
    """Add the guard to the main application (before it starts); sub-applications are behind it too."""
    app.middlewares.append(make_guard(Guard(engine, raw_settings)))


def guard_of(request: web.Request) -> Guard:
    try:
        return request[_GUARD_OF_REQUEST]
    except KeyError:
        raise RuntimeError("the access guard is not installed on this application") from None


def principal_of(request: web.Request) -> Principal:
    try:
        return request[PRINCIPAL]
    except KeyError:
        raise web.HTTPUnauthorized() from None


def session_of(request: web.Request) -> SessionData | None:
    try:
        return request[SESSION]
    except KeyError:
        return None
