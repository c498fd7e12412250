"""The provider simulator over real HTTP on 127.0.0.1 (a free port) from a background thread, so that
synchronous code (the provider client, the outbox's external-call handler, the demo) can talk to it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from aiohttp import web

from gateway.payments.provider_sim.app import WebhookSettings, create_app
from gateway.payments.provider_sim.simulator import ProviderSimulator


@dataclass(frozen=True)
class RunningProvider:
    sim: ProviderSimulator
    url: str  # base URL: POST {url}/jobs
    webhooks: WebhookSettings


@contextmanager
def serve_provider(sim: ProviderSimulator, host: str = "127.0.0.1", port: int = 0,
                   webhooks: WebhookSettings | None = None) -> Iterator[RunningProvider]:
    settings = webhooks or WebhookSettings()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(sim, settings), handle_signals=False)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, host, port).start())
    bound_host, bound_port = runner.addresses[0][:2]
    thread = threading.Thread(target=loop.run_forever, name="provider-simulator", daemon=True)
    thread.start()
    try:
        yield RunningProvider(sim, f"http://{bound_host}:{bound_port}", settings)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
