"""The aiohttp application: health, metrics, the SOAP endpoint (and, as they land, the internal API), and
`serve`, which runs it for `gateway serve`.

Every request gets one access-log line (`gateway.access_log`). `/health` and `/metrics` answer 503 with the
reason while the database is unreachable or not migrated (never a 500 with a traceback in the log).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.access.guard import install_guard
from gateway.access_log import access_log_middleware
from gateway.api import api_app
from gateway.config import Settings, safe_database_url
from gateway.payments.settings import provider_settings
from gateway.payments.webhook import add_webhook_route
from gateway.receive import Receiver
from gateway.soap.endpoint import SOAP_PATH, add_routes
from gateway.soap.http_checks import soap_request_checks
from gateway.store.db import make_engine
from gateway.store.revisions import current_revision, head_revision
from gateway.support import support_app
from outbox.admin import prometheus_metrics

ENGINE = web.AppKey("engine", Engine)
SETTINGS = web.AppKey("settings", Settings)
HEAD_REVISION = web.AppKey("head_revision", str)
# Room for the SOAP envelope around the largest business document we accept.
ENVELOPE_ROOM = 64 * 1024

log = logging.getLogger("gateway.app")


def _schema_state(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return current_revision(conn)


def _database_problem(error: BaseException) -> str:
    reason = " ".join(str(getattr(error, "orig", None) or error).split())[:300]
    return f"database unavailable: {reason}"


async def health(request: web.Request) -> web.Response:
    head = request.app[HEAD_REVISION]
    try:
        revision = await asyncio.to_thread(_schema_state, request.app[ENGINE])
    except SQLAlchemyError as exc:
        return web.json_response({"status": "unavailable", "database": _database_problem(exc)}, status=503)
    migrated = revision == head
    body = {"status": "ok" if migrated else "migrations pending", "schema_revision": revision, "head": head}
    return web.json_response(body, status=200 if migrated else 503)


async def metrics(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    try:
        body = await asyncio.to_thread(prometheus_metrics, engine, "gateway_outbox")
    except SQLAlchemyError as exc:
        # Usually a database not migrated yet: say which, as a scrape failure with a reason, not a 500.
        try:
            revision = await asyncio.to_thread(_schema_state, engine)
        except SQLAlchemyError as again:
            reason = _database_problem(again)
        else:
            head = request.app[HEAD_REVISION]
            reason = (f"database schema at {revision or 'no revision'}, this version needs {head}: run "
                      "`gateway migrate`") if revision != head else _database_problem(exc)
        return web.Response(text=f"# {reason}\n", status=503, content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})
    return web.Response(text=body, content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


def create_app(settings: Settings, engine: Engine | None = None) -> web.Application:
    body_limit = settings.max_message_bytes + ENVELOPE_ROOM
    app = web.Application(client_max_size=body_limit, middlewares=[
        access_log_middleware, soap_request_checks(SOAP_PATH, body_limit),
    ])
    app[SETTINGS] = settings
    app[HEAD_REVISION] = head_revision()
    owned = engine is None
    app[ENGINE] = engine or make_engine(settings.database_url)  # connects lazily, on first use

    async def database(app: web.Application) -> AsyncIterator[None]:
        yield
        if owned:
            app[ENGINE].dispose()

    app.cleanup_ctx.append(database)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    add_routes(app, app[ENGINE], Receiver(app[ENGINE], max_bytes=settings.max_message_bytes), settings.public_url)
    add_webhook_route(app, app[ENGINE], provider_settings(settings))  # signed by the provider, not a user
    install_guard(app, app[ENGINE], settings.raw)  # every route denies by default; see gateway/access/guard.py
    app.add_subapp("/api", api_app(app[ENGINE]))
    app.add_subapp("/support", support_app(app[ENGINE]))
    return app


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def _serve(settings: Settings, host: str, port: int) -> None:
    runner = web.AppRunner(create_app(settings), access_log=None)  # ours is access_log_middleware
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.TCPSite(runner, host, port).start()
        bound_host, bound_port = (str(runner.addresses[0][0]), int(runner.addresses[0][1])) if runner.addresses \
            else (host, port)
        base = f"http://{_url_host(bound_host)}:{bound_port}"
        wildcard = host in ("0.0.0.0", "::", "")
        if settings.public_url:
            wsdl = f"its WSDL names {settings.public_url}{SOAP_PATH} (public_url)"
        elif wildcard:
            wsdl = "its WSDL names the address each client reached (set public_url to publish one)"
        else:
            wsdl = f"its WSDL names {base}{SOAP_PATH}"
        print(f"gateway serve: listening on {base}{' (all interfaces)' if wildcard else ''}", flush=True)
        print(f"gateway serve: GET /health, GET /metrics, SOAP endpoint POST {SOAP_PATH} ({wsdl}); database "
              f"{safe_database_url(settings.database_url)}; one access line per request on stderr; stop with "
              "Ctrl-C or SIGTERM", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def serve(settings: Settings, *, host: str, port: int) -> int:
    """Run the service until SIGINT/SIGTERM. Raises OSError when the address cannot be listened on."""
    access = logging.getLogger("gateway.access")
    if access.getEffectiveLevel() > logging.INFO:
        access.setLevel(logging.INFO)
    if not logging.getLogger().handlers:  # run outside `gateway` (python -c …): still show the access lines
        logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(settings, host, port))
    return 0
