"""The receivables part of `gateway demo`: the month's invoices go to the payment-provider simulator (started
in-process on a free port, with the gateway's own HTTP service on another for its webhooks), its statuses come
back by polling and by webhook, a generated camt.054 pays some retail invoices in full, one partly and one with
a wrong reference, dunning runs a fortnight after the due date, and the receivables summary is printed."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.config import Settings
from gateway.payments.bank_samples import SampleEntry, SamplePart, write_camt054
from gateway.payments.dunning_run import run_dunning
from gateway.payments.entities import catalogue_entities
from gateway.payments.importing import import_bank_file
from gateway.payments.provider_sim.app import WebhookSettings
from gateway.payments.provider_sim.background import serve_provider
from gateway.payments.provider_sim.clock import SimClock
from gateway.payments.provider_sim.simulator import Account, ProviderSimulator
from gateway.payments.service import list_unmatched, receivables_summary
from gateway.payments.settings import provider_settings
from gateway.payments.status_updates import poll_provider
from gateway.store.billing_tables import InvoiceRow

SECRET = "demo-webhook-secret-not-for-production"
PAID_ON = date(2026, 4, 14)
DUNNING_DAY = date(2026, 5, 1)


@contextmanager
def _serve(app: web.Application) -> Iterator[str]:
    """The gateway's HTTP service on 127.0.0.1 (a free port) from a thread: the simulator's webhooks reach it."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
    host, port = runner.addresses[0][:2]
    thread = threading.Thread(target=loop.run_forever, name="demo-gateway-http", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def _bank_file(engine: Engine, path: Path) -> tuple[Path, str]:
    with Session(engine) as session:
        entities = catalogue_entities(session)
        retail = entities["retail"]
        invoices = list(session.execute(select(InvoiceRow).where(
            col(InvoiceRow.entity_id) == "retail", col(InvoiceRow.kind) == "invoice",
            col(InvoiceRow.payment_status) == "unpaid").order_by(col(InvoiceRow.id))).scalars())
    entries = []
    for i, invoice in enumerate(invoices[:-1]):  # the last one stays unpaid: dunning reminds it
        total = Decimal(invoice.total)
        if i == 1:  # partly paid
            entries.append(SampleEntry(f"DEMO-{i:04d}", (total / 2).quantize(Decimal("0.01")), PAID_ON,
                                       parts=[SamplePart(invoice.reference)]))
        elif i == 2:  # a wrong reference (a digit swapped: the check digit fails)
            wrong = invoice.reference[:-3] + invoice.reference[-2] + invoice.reference[-3] + invoice.reference[-1]
            entries.append(SampleEntry(f"DEMO-{i:04d}", total, PAID_ON, parts=[SamplePart(wrong)]))
        elif i % 2:
            entries.append(SampleEntry(f"DEMO-{i:04d}", total, PAID_ON, unstructured=[f"viite {invoice.reference}"]))
        else:
            entries.append(SampleEntry(f"DEMO-{i:04d}", total, PAID_ON, parts=[SamplePart(invoice.reference)]))
    assert retail.iban is not None
    with path.open("wb") as out:
        write_camt054(out, retail.iban, entries, message_id="DEMO-CAMT054-2026-04-14")
    return path, retail.iban


def run_receivables_demo(engine: Engine, work: Path, settings: Settings) -> list[str]:
    from gateway.bootstrap import build_registry
    from gateway.cli_payments import format_summary
    from outbox.worker import Worker

    with Session(engine) as session:
        accounts = sorted({e.payment_provider.account for e in catalogue_entities(session).values()
                           if e.payment_provider})
    tokens = {account: f"demo-token-{account}" for account in accounts}
    table = {"webhook_secret": SECRET, "accounts": tokens, "timeout_seconds": 10}
    out: list[str] = []
    from gateway.app import create_app

    with _serve(create_app(dataclasses.replace(settings, raw={**settings.raw, "payment_provider": table}),
                           engine)) as gateway_url:
        sim = ProviderSimulator([Account(a, t, f"{gateway_url}/webhooks/payment-provider", SECRET)
                                 for a, t in tokens.items()], clock=SimClock(datetime(2026, 4, 2, 8, tzinfo=UTC)))
        with serve_provider(sim, webhooks=WebhookSettings(retry_initial=0.05, tick_interval=0.05)) as provider:
            demo_settings = dataclasses.replace(settings, raw={**settings.raw, "payment_provider": {
                **table, "base_url": provider.url}})
            worker = Worker(engine, build_registry(demo_settings, engine), demo_settings.outbox)
            worker.drain()
            jobs = {a.name: len(sim.cases(a)) for a in sim.accounts()}
            out.append("provider      jobs sent to the simulated provider: " + ", ".join(
                f"{a} {n}" for a, n in jobs.items()))
            sim.advance(timedelta(hours=2))  # delivered: Due
            config = provider_settings(demo_settings)
            polled = poll_provider(engine, config)
            _wait(lambda: sim.webhook_backlog() == 0)
            out.append("statuses      polled " + ", ".join(f"{a} {r['stored']} new / {r['duplicates']} seen"
                                                           for a, r in polled.items())
                       + "; the webhook delivered the same events (each stored once)")
            path, _ = _bank_file(engine, work / "camt054-2026-04-14.xml")
            result = import_bank_file(engine, path.name, path.read_bytes())
            out.append(f"bank file     {path.name}: {result.entries} entries, {result.allocated} allocated, "
                       f"{result.unmatched} unmatched")
            with Session(engine) as session:
                for item in list_unmatched(session):
                    out.append(f"              unmatched {item['amount']} EUR, reference {item['reference']}: "
                               f"{item['reason']}")
            worker.drain()  # payments reported to the provider
            dunning = run_dunning(engine, DUNNING_DAY)
            worker.drain()  # reminders handed over to the provider
            sim.advance(timedelta(days=30))
            poll_provider(engine, config)
            _wait(lambda: sim.webhook_backlog() == 0)
            out.append(f"dunning       {DUNNING_DAY}: {len(dunning.reminders)} reminder(s) with fee, "
                       f"{len(dunning.collections)} collection hand-over(s), {len(dunning.tasks)} disconnection "
                       f"task(s) for a person, {dunning.followed_provider} followed the full-service provider")
    with Session(engine) as session:
        summary = receivables_summary(session)
    out.append("receivables   " + format_summary(summary).replace("\n", "\n              "))
    return out


def _wait(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)
