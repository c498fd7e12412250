"""The simulator served over real HTTP on 127.0.0.1 (a free port) from a background thread, so synchronous
code (the zeep client, the pull worker) can talk to it: the demo's simulated Datahub, and the tests'."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from aiohttp import web

from gateway.datahub_sim.app import create_app
from gateway.datahub_sim.simulator import DatahubSimulator


@dataclass(frozen=True)
class RunningSimulator:
    sim: DatahubSimulator
    url: str  # the SOAP endpoint


@contextmanager
def serve_simulator(sim: DatahubSimulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningSimulator]:
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(sim))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, host, port)
    loop.run_until_complete(site.start())
    bound_host, bound_port = runner.addresses[0][:2]
    thread = threading.Thread(target=loop.run_forever, name="datahub-simulator", daemon=True)
    thread.start()
    try:
        yield RunningSimulator(sim, f"http://{bound_host}:{bound_port}/soap/b2b")
    finally:
        sim.release_slow_answers()  # a held answer would keep the server from shutting down
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
