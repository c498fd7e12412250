"""The gateway's HTTP application served on 127.0.0.1 (a free port) from a background thread, for clients that
are synchronous or run their own event loop: schemathesis and the headless browser. The server's event loop
is made and run inside that thread, so a caller with a loop of its own (Playwright's) is no obstacle."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web


@contextmanager
def serve_app(app: web.Application) -> Iterator[str]:
    """Serve `app`; yields its base URL (http://127.0.0.1:PORT)."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    ready = threading.Event()
    address: list[str] = []
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            host, port = runner.addresses[0][:2]
            address.append(f"http://{host}:{port}")
        except BaseException as error:  # reported to the caller below
            failure.append(error)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, name="gateway-app", daemon=True)
    thread.start()
    if not ready.wait(timeout=120):
        raise RuntimeError("the application did not start")
    if failure:
        raise failure[0]
    try:
        yield address[0]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=60)
