"""The aiohttp application: health, metrics, and (as they land) the SOAP endpoint and the internal API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gateway.access.guard import install_guard
from gateway.api import api_app
from gateway.config import Settings
from gateway.receive import Receiver
from gateway.soap.endpoint import add_routes
from gateway.store.db import make_engine
from gateway.store.migrate import current_revision, head_revision
from gateway.support import support_app
from outbox.admin import prometheus_metrics

ENGINE = web.AppKey("engine", Engine)
SETTINGS = web.AppKey("settings", Settings)


def _schema_state(engine: Engine) -> tuple[str | None, str | None]:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return current_revision(engine), head_revision(engine)


async def health(request: web.Request) -> web.Response:
    try:
        revision, head = await asyncio.to_thread(_schema_state, request.app[ENGINE])
    except Exception as exc:
        return web.json_response({"status": "unavailable", "database": str(exc)[:300]}, status=503)
    migrated = revision == head
    body = {"status": "ok" if migrated else "migrations pending", "schema_revision": revision, "head": head}
    return web.json_response(body, status=200 if migrated else 503)


async def metrics(request: web.Request) -> web.Response:
    body = await asyncio.to_thread(prometheus_metrics, request.app[ENGINE], "gateway_outbox")
    return web.Response(text=body, content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


def create_app(settings: Settings, engine: Engine | None = None) -> web.Application:
    # Room for the SOAP envelope around the largest business document we accept.
    app = web.Application(client_max_size=settings.max_message_bytes + 64 * 1024)
    app[SETTINGS] = settings
    owned = engine is None
    app[ENGINE] = engine or make_engine(settings.database_url)  # connects lazily, on first use

    async def database(app: web.Application) -> AsyncIterator[None]:
        yield
        if owned:
            app[ENGINE].dispose()

    app.cleanup_ctx.append(database)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    add_routes(app, app[ENGINE], Receiver(app[ENGINE], max_bytes=settings.max_message_bytes))
    install_guard(app, app[ENGINE], settings.raw)  # every route denies by default; see gateway/access/guard.py
    app.add_subapp("/api", api_app(app[ENGINE]))
    app.add_subapp("/support", support_app(app[ENGINE]))
    return app
