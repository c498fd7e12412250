"""The Datahub simulator served over real HTTP on 127.0.0.1 (random port) from a background thread, so that
synchronous code (the zeep client, the pull worker, the database fixtures) can talk to it directly."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from aiohttp import web

from gateway.datahub_sim import DatahubSimulator, create_app


@dataclass(frozen=True)
class RunningSimulator:
    sim: DatahubSimulator
    url: str  # the SOAP endpoint


@contextmanager
def serve_simulator(sim: DatahubSimulator) -> Iterator[RunningSimulator]:
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(sim))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    host, port = runner.addresses[0][:2]
    thread = threading.Thread(target=loop.run_forever, name="datahub-simulator", daemon=True)
    thread.start()
    try:
        yield RunningSimulator(sim, f"http://{host}:{port}/soap/b2b")
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
