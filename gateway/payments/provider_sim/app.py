"""The simulator's HTTP face (aiohttp) and its webhook sender.

API (docs/payment-provider.md), every route with ``Authorization: Bearer <account token>``:

* ``POST /jobs`` — ``{"datastream": {"dataset": [job, …]}}`` → 200 ``{"jobs": [receipt, …]}``
* ``POST /jobs/payment`` — a payment made outside the provider → 201 receipt
* ``GET /jobs/statusupdates[?limit=N]`` — up to 1,000 unfetched status updates → 200 list, or 204 when none
* sandbox control: ``POST /sim/clock`` ``{"advance_seconds": N}``, ``GET /sim/jobs``,
  ``POST /sim/debtor-payment`` ``{"billcode", "amount"}``, ``GET /sim/status``

Errors are RFC 9457 ``application/problem+json``. While an outage covers the simulated now, every API route
answers 503 and webhooks wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any, Final

import aiohttp
from aiohttp import web

from gateway.payments.provider.api import SIGNATURE_HEADER, STATUS_PAGE_MAX, WEBHOOK_BATCH_MAX, sign, webhook_body
from gateway.payments.provider_sim.simulator import Account, ProblemError, ProviderSimulator

MAX_BODY: Final = 5 * 1024 * 1024
_log = logging.getLogger(__name__)


class WebhookSettings:
    """How the sender retries: real-time backoff from ``retry_initial`` doubling to ``retry_max`` seconds."""

    def __init__(self, *, retry_initial: float = 0.2, retry_max: float = 30.0, timeout: float = 10.0,
                 tick_interval: float = 1.0) -> None:
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.timeout = timeout
        self.tick_interval = tick_interval
        self.delivered_batches = 0
        self.failed_attempts = 0


SIMULATOR: Final = web.AppKey("provider_simulator", ProviderSimulator)
WEBHOOK_SETTINGS: Final = web.AppKey("provider_webhook_settings", WebhookSettings)


def create_app(sim: ProviderSimulator, webhooks: WebhookSettings | None = None) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_problems])
    app[SIMULATOR] = sim
    app[WEBHOOK_SETTINGS] = webhooks or WebhookSettings()
    app.router.add_post("/jobs", create_jobs)
    app.router.add_post("/jobs/payment", report_payment)
    app.router.add_get("/jobs/statusupdates", status_updates)
    app.router.add_post("/sim/clock", advance_clock)
    app.router.add_get("/sim/jobs", list_jobs)
    app.router.add_post("/sim/debtor-payment", debtor_payment)
    app.router.add_get("/sim/status", sim_status)
    app.cleanup_ctx.append(_background)
    return app


def problem(status: int, title: str, detail: str, errors: list[Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return web.Response(status=status, text=json.dumps(body), content_type="application/problem+json")


@web.middleware
async def _problems(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ProblemError as exc:
        return problem(exc.status, exc.title, exc.detail, exc.errors)
    except web.HTTPRequestEntityTooLarge:
        return problem(413, "Request too large", f"the body is over {MAX_BODY} bytes")
    except web.HTTPException as exc:
        if exc.status >= 400:
            return problem(exc.status, exc.reason, exc.text or exc.reason)
        raise


def _account(request: web.Request) -> Account:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    account = request.app[SIMULATOR].account_for_token(token.strip()) if scheme.lower() == "bearer" else None
    if account is None:
        raise ProblemError(401, "Unauthorized", "send Authorization: Bearer <account token>")
    return account


async def _api_call(request: web.Request, operation: str) -> tuple[Account, frozenset[str]]:
    """Authenticate, honour an outage and the injected faults that act before processing."""
    sim = request.app[SIMULATOR]
    account = _account(request)
    sim.tick()
    if sim.is_down():
        raise ProblemError(503, "Service unavailable", "the provider is down (simulated outage)")
    injected = sim.faults.next_call(operation)
    if "http_5xx" in injected:
        raise ProblemError(503, "Service unavailable", f"injected HTTP 503 on {operation}")
    return account, frozenset(injected)


async def _answer(request: web.Request, injected: frozenset[str], response: web.Response) -> web.Response:
    """The faults that act after the work is done: a slow answer, a lost answer."""
    if "slow" in injected:
        await asyncio.sleep(request.app[SIMULATOR].slow_delay)
    if "lost_answer" in injected:
        return _drop_connection(request)
    return response


async def _json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read(), parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProblemError(400, "Invalid JSON", str(exc)) from None


def _drop_connection(request: web.Request) -> web.Response:
    """The answer is lost after the work was done: close the connection without a response."""
    if request.transport is not None:
        request.transport.close()
    raise ConnectionResetError("injected lost answer")


async def create_jobs(request: web.Request) -> web.Response:
    account, injected = await _api_call(request, "create_job")
    receipts = request.app[SIMULATOR].create_jobs(account, await _json(request))
    return await _answer(request, injected, web.json_response({"jobs": [r.to_json() for r in receipts]}))


async def report_payment(request: web.Request) -> web.Response:
    account, injected = await _api_call(request, "payment")
    receipt = request.app[SIMULATOR].report_payment(account, await _json(request))
    return await _answer(request, injected, web.json_response(receipt, status=201))


async def status_updates(request: web.Request) -> web.Response:
    account, injected = await _api_call(request, "statusupdates")
    try:
        limit = int(request.query.get("limit", STATUS_PAGE_MAX))
    except ValueError:
        raise ProblemError(400, "Invalid limit", "limit must be a whole number 1-1000") from None
    page = request.app[SIMULATOR].poll(account, limit)
    if not page:
        return await _answer(request, injected, web.Response(status=204))
    return await _answer(request, injected, web.json_response([u.to_json() for u in page]))


async def advance_clock(request: web.Request) -> web.Response:
    _account(request)
    data = await _json(request)
    try:
        seconds = float(data.get("advance_seconds", 0)) if isinstance(data, dict) else -1.0
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds < 0:
        raise ProblemError(400, "Invalid clock change", "advance_seconds must be a number ≥ 0")
    now = request.app[SIMULATOR].advance(timedelta(seconds=seconds))
    return web.json_response({"now": now.isoformat()})


async def list_jobs(request: web.Request) -> web.Response:
    account = _account(request)
    return web.json_response({"jobs": [c.to_json() for c in request.app[SIMULATOR].cases(account)]})


async def debtor_payment(request: web.Request) -> web.Response:
    account = _account(request)
    data = await _json(request)
    if not isinstance(data, dict):
        raise ProblemError(400, "Invalid payment", "the body must be a JSON object")
    try:
        amount = Decimal(str(data.get("amount")))
    except ArithmeticError:
        raise ProblemError(400, "Invalid payment", "amount must be a number") from None
    return web.json_response(request.app[SIMULATOR].debtor_payment(account, str(data.get("billcode")), amount),
                             status=201)


async def sim_status(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    settings = request.app[WEBHOOK_SETTINGS]
    return web.json_response({"now": sim.clock.now().isoformat(), "down": sim.is_down(),
                              "webhook_backlog": sim.webhook_backlog(),
                              "webhook_batches_delivered": settings.delivered_batches,
                              "webhook_failed_attempts": settings.failed_attempts})


async def _background(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_deliver_webhooks(app[SIMULATOR], app[WEBHOOK_SETTINGS]))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _deliver_webhooks(sim: ProviderSimulator, settings: WebhookSettings) -> None:
    """Push every account's events in order, ≤ 500 a batch, each batch retried until the receiver answers
    2xx. Runs for the server's lifetime; it also ticks the clock so that a real-time clock advances jobs."""
    delay: dict[str, float] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.timeout)) as session:
        while True:
            sim.changed.clear()
            sim.tick()
            waits: list[float] = [settings.tick_interval]
            if not sim.is_down():
                for account in sim.accounts():
                    if account.webhook_url is None:
                        continue
                    wait = await _deliver_one(sim, settings, session, account, delay)
                    if wait is not None:
                        waits.append(wait)
            await _sleep_or_change(sim, min(waits))


async def _deliver_one(sim: ProviderSimulator, settings: WebhookSettings, session: aiohttp.ClientSession,
                       account: Account, delay: dict[str, float]) -> float | None:
    start, events = sim.webhook_batch(account, WEBHOOK_BATCH_MAX)
    if not events:
        return None
    assert account.webhook_url is not None
    batch_id = f"{account.name}-{start + 1}-{start + len(events)}"
    body = webhook_body(batch_id, account.name, sim.clock.now(), events)
    headers = {"Content-Type": "application/json", "X-Provider-Batch": batch_id,
               "X-Provider-Delivery": uuid.uuid4().hex}
    if account.webhook_secret:
        headers[SIGNATURE_HEADER] = sign(body, account.webhook_secret)
    injected = sim.faults.next_call("webhook")
    ok = False
    if "http_5xx" not in injected:
        if "slow" in injected:
            await asyncio.sleep(sim.slow_delay)
        ok = await _post(session, account.webhook_url, body, headers)
        if ok and "duplicate" in injected:
            await _post(session, account.webhook_url, body, headers)
    if ok:
        sim.webhook_acknowledged(account, start, len(events))
        settings.delivered_batches += 1
        delay.pop(account.name, None)
        return 0.0
    settings.failed_attempts += 1
    wait = delay.get(account.name, settings.retry_initial)
    delay[account.name] = min(wait * 2, settings.retry_max)
    return wait


async def _post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            return 200 <= response.status < 300
    except (TimeoutError, aiohttp.ClientError) as exc:
        _log.info("webhook to %s failed: %s", url, exc)
        return False


async def _sleep_or_change(sim: ProviderSimulator, seconds: float) -> None:
    """Sleep until new events arrive or ``seconds`` pass (the simulator's flag is set from any thread)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline and not sim.changed.is_set():
        await asyncio.sleep(min(0.05, max(deadline - loop.time(), 0)))
