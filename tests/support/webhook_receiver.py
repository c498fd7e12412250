"""A webhook receiver on 127.0.0.1 in a background thread: records every delivery and answers with the
statuses a test scripts (then 200)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]
    answered: int


@dataclass
class WebhookReceiver:
    url: str
    answers: list[int] = field(default_factory=list)  # consumed one per delivery; 200 when empty
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if 200 <= d.answered < 300]


@contextmanager
def serve_webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(url="")

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        with receiver.lock:
            status = receiver.answers.pop(0) if receiver.answers else 200
            receiver.deliveries.append(Delivery(body, dict(request.headers), status))
        return web.Response(status=status, text="stored" if status < 300 else "try again")

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/webhooks/payment-provider", handle)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, handle_signals=False)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
    host, port = runner.addresses[0][:2]
    receiver.url = f"http://{host}:{port}/webhooks/payment-provider"
    thread = threading.Thread(target=loop.run_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    """Wait for an event in another thread; generous limit, no assumption on the machine's speed."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
