"""`gateway demo`: the end-to-end run a new user sees first, on the embedded SQLite database.

A simulated Datahub (the real SOAP interface, on a local port) delivers a month of messages for a dozen
accounting points — master data, agreements, quarter-hour metering data including the DST-spring day — with
injected faults. The gateway pulls, validates and stores them, parks what arrives before its master data,
rates the month from the store, re-rates after a correction, sends an agreement to Datahub and records its
ACK, then prints a summary and where to look.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.demo_step import run_billing_demo
from gateway.bootstrap import build_registry
from gateway.config import PROJECT_ROOT, Settings
from gateway.datahub_pull import DatahubPuller
from gateway.datahub_sim import DatahubSimulator, FaultInjector, parse_fault_rule
from gateway.datahub_sim.background import serve_simulator
from gateway.outbound import send_to_datahub
from gateway.parties import add_party
from gateway.payments.demo_step import run_receivables_demo
from gateway.rating.assignments import AssignmentSpec, assign_product
from gateway.rating.catalogues import active_catalogue, load_catalogue_file
from gateway.rating.core.calendar import local_midnight_utc
from gateway.rating.prices import import_price_file
from gateway.rating.service import latest_rating, rate_and_record
from gateway.receive import Receiver
from gateway.soap.datahub_client import DatahubClient
from gateway.store.db import make_engine
from gateway.store.migrate import current_revision, upgrade
from gateway.store.tables import MessageRecord, MeteringSeriesRow, OutboundMessage, ParkedMessage
from mappings import samples
from outbox.admin import status
from outbox.schema import outbox_delivery
from outbox.types import utcnow
from outbox.worker import Worker

MONTH, NEXT_MONTH = date(2026, 3, 1), date(2026, 4, 1)  # includes the 92-quarter DST day, 29.3.2026
POINTS = [samples.gsrn(n) for n in range(1, 13)]
LATE_POINT = POINTS[-1]  # its master data and agreement arrive after its metering data
RETAIL_PRODUCTS = ["EM-SPOT", "EM-AIKA", "EM-KAUSI", "EM-KIINTEA"]
NETWORK_PRODUCT = "SV-AIKA"
FAULTS = ("peekMessage:duplicate:calls=5", "dequeueMessage:dequeue_fault:calls=9", "peekMessage:http_5xx:calls=14")


def _fresh_sqlite(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            Path(parsed.database + suffix).unlink(missing_ok=True)


def _days() -> list[date]:
    return [MONTH + timedelta(days=d) for d in range((NEXT_MONTH - MONTH).days)]


def write_scenario(folder: Path) -> int:
    """The Datahub queue content, named so that sorting gives the delivery order."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.xml"):
        old.unlink()
    since = datetime(2025, 6, 1, tzinfo=UTC)
    early = [p for p in POINTS if p != LATE_POINT]
    files: dict[str, bytes] = {}
    for i, point in enumerate(early):
        files[f"10-e58-{point}.xml"] = samples.e58_message(point, datetime(2025, 1, 1, tzinfo=UTC))
        files[f"20-f04-{point}.xml"] = samples.f04_message(  # the first two points have the same customer
            point, since, product_code=RETAIL_PRODUCTS[i % len(RETAIL_PRODUCTS)],
            customer=samples.sample_customer(max(i - 1, 0)), e_invoice=i % 3 != 2)
    for day in _days():
        files[f"30-e66-{day}.xml"] = samples.e66_message(samples.DATAHUB_GLN, samples.OUR_SUPPLIER_GLN, early, day)
        files[f"31-e66-late-{day}.xml"] = samples.e66_message(
            samples.DATAHUB_GLN, samples.OUR_SUPPLIER_GLN, [LATE_POINT], day, seed=7)
    # A message we must refuse: Datahub's queue carries a DSO's own header (not Datahub as physical sender).
    files["40-foreign-sender.xml"] = (PROJECT_ROOT / "tests/fixtures/datahub/e66-pt1h-day.xml").read_bytes()
    files[f"50-e58-{LATE_POINT}.xml"] = samples.e58_message(LATE_POINT, datetime(2025, 1, 1, tzinfo=UTC))
    files[f"51-f04-{LATE_POINT}.xml"] = samples.f04_message(LATE_POINT, since, product_code="EM-SPOT",
                                                           customer=samples.sample_customer(len(early)))
    for name, body in files.items():
        (folder / name).write_bytes(body)
    return len(files)


def write_spot_prices(path: Path) -> Path:
    """Synthetic quarter-hour spot prices for the demo month (deterministic; a few negative hours included).

    The two real ENTSO-E samples shipped in tests/fixtures/prices cover days in 2023 and 2025, not this month."""
    start = local_midnight_utc(MONTH)
    n = int((local_midnight_utc(NEXT_MONTH) - start).total_seconds() // 900)
    rng = np.random.default_rng(2026)
    hour = (np.arange(n) // 4 + 2) % 24  # local hour, near enough for a price shape
    prices = 40 + 35 * np.sin((hour - 6) / 24 * 2 * np.pi) + rng.normal(0, 12, n)
    prices[rng.choice(n, 24, replace=False)] = -rng.uniform(0.5, 5, 24)
    lines = ["start_utc,end_utc,eur_per_mwh"]
    for i, price in enumerate(prices):
        a = start + timedelta(minutes=15 * i)
        lines.append(f"{a:%Y-%m-%dT%H:%M:%SZ},{a + timedelta(minutes=15):%Y-%m-%dT%H:%M:%SZ},{price:.2f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _pull_all(puller: DatahubPuller) -> Counter[str]:
    results: Counter[str] = Counter()
    for _ in range(200):
        poll = puller.poll_once()
        results.update(p.result for p in poll.pulled)
        results["transport errors (retried later)"] += len(poll.transport_errors)
        results["dequeue failures (dequeued when handed out again)"] += poll.dequeue_failures
        if poll.idle and not poll.errors:
            break
    return +results


def _registry_counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        rows = s.execute(select(col(MessageRecord.status), func.count()).group_by(col(MessageRecord.status))).all()
    return {str(status): int(count) for status, count in rows}


def run_demo(settings: Settings, *, fresh: bool = True) -> int:
    # The walkthrough injects failures on purpose; the summary reports them, the warnings would only be noise.
    for name in ("outbox.worker", "gateway.datahub_pull", "gateway.outbound", "gateway.receive", "zeep",
                 "gateway.soap.datahub_client"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if fresh:
        _fresh_sqlite(settings.database_url)
    work = Path(make_url(settings.database_url).database or "var/gateway.db").resolve().parent / "demo"
    work.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    out = [f"database      {engine.url.render_as_string(hide_password=True)} (schema {current_revision(engine)})"]

    add_party(engine, samples.DATAHUB_GLN, roles=["DH"], name="Fingrid Datahub (simulated)")
    add_party(engine, samples.OUR_SUPPLIER_GLN, roles=["DDQ"], name="Group retail", own=True)
    add_party(engine, samples.OUR_DSO_GLN, roles=["DDM"], name="Group distribution", own=True)
    load_catalogue_file(engine, PROJECT_ROOT / "catalogue" / "demo.toml")
    import_price_file(engine, write_spot_prices(work / "spot-2026-03.csv"))
    import_price_file(engine, PROJECT_ROOT / "tests/fixtures/prices/day_ahead_prices_fi.xml")

    scenario = work / "scenario"
    queued = write_scenario(scenario)
    sim = DatahubSimulator(faults=FaultInjector([parse_fault_rule(f) for f in FAULTS], seed=1))
    sim.load_scenario(scenario)
    with serve_simulator(sim) as running:
        demo_settings = dataclasses.replace(settings, raw={**settings.raw, "datahub": {
            "endpoint": running.url, "our_gln": samples.OUR_SUPPLIER_GLN, "retries": 3, "timeout_seconds": 10}})
        client = DatahubClient(running.url, headers={"X-Party-GLN": samples.OUR_SUPPLIER_GLN}, timeout=10)
        receiver = Receiver(engine, max_bytes=settings.max_message_bytes)
        puller = DatahubPuller(engine, client, receiver, our_gln=samples.OUR_SUPPLIER_GLN, backoff_min=0.05)
        worker = Worker(engine, build_registry(demo_settings, engine), demo_settings.outbox)

        pulled = _pull_all(puller)
        out.append(f"datahub       {queued} messages queued by the simulated Datahub, faults {', '.join(FAULTS)}")
        out.append("pulled        " + ", ".join(f"{k}: {v}" for k, v in sorted(pulled.items())))
        with Session(engine) as s:
            parked = s.execute(select(func.count()).select_from(ParkedMessage)).scalar_one()
        worker.drain()
        with Session(engine) as s:
            released = s.execute(
                select(func.count()).where(col(ParkedMessage.released_at).is_not(None))).scalar_one()
        out.append(f"parked        {parked} metering messages waited for {LATE_POINT}'s master data; "
                   f"{released} released and applied when it arrived")
        with Session(engine) as s:
            series = s.execute(select(func.count()).select_from(MeteringSeriesRow)).scalar_one()
            dst = s.execute(select(func.count()).where(col(MeteringSeriesRow.positions) == 92)).scalar_one()
        out.append(f"metering      {series} series stored ({dst} of them on 29.3.2026 with 92 quarter hours)")

        # The group's own DSO data: the network product of every point (after the pull, so that the late point
        # is known only from its Datahub master data).
        with Session(engine) as s, s.begin():
            catalogue = active_catalogue(s).catalogue
            for point in POINTS:
                assign_product(s, AssignmentSpec(point, NETWORK_PRODUCT, date(2025, 1, 1)), catalogue)

        totals: dict[str, Decimal] = {}
        out.append(f"rating        March 2026, {len(POINTS)} accounting points (retail + {NETWORK_PRODUCT} + tax):")
        for point in POINTS:
            rated, _ = rate_and_record(engine, point, MONTH, NEXT_MONTH, cause="demo")
            total = sum((line.amount for line in rated.lines), Decimal(0))
            for line in rated.lines:
                totals[line.legal_entity] = totals.get(line.legal_entity, Decimal(0)) + line.amount
            kwh = sum((line.quantity for line in rated.lines if line.component == "electricity_tax"), Decimal(0))
            product = next((ln.product_code for ln in rated.lines if ln.product_code.startswith("EM-")), "?")
            out.append(f"                {point}  {product:<11} {kwh:>9.1f} kWh  {total:>9.2f} € excl. VAT")
        out.append("              by legal entity: " + ", ".join(f"{k} {v:.2f} €" for k, v in sorted(totals.items())))

        # A corrected day for the first point: a new version, re-rated through the outbox into delta lines.
        correction = samples.e66_message(samples.DATAHUB_GLN, samples.OUR_SUPPLIER_GLN, [POINTS[0]],
                                         date(2026, 3, 10), seed=1, message_id="3f1c9a52-0000-4000-8000-00000000d3m0")
        sim.enqueue(samples.OUR_SUPPLIER_GLN, correction)
        _pull_all(puller)
        worker.drain()
        with Session(engine) as s:
            revised = latest_rating(s, POINTS[0], MONTH, NEXT_MONTH)
        if revised is not None:
            out.append(f"correction    10.3. for {POINTS[0]}: revision {revised.revision}, delta "
                       f"{Decimal(revised.delta_total):+.2f} € in {len(revised.delta)} delta lines")

        def deliver(body: bytes) -> None:
            sim.enqueue(samples.OUR_SUPPLIER_GLN, body)
            _pull_all(puller)
            worker.drain()

        out += run_billing_demo(engine, work, month=MONTH, next_month=NEXT_MONTH, points=POINTS, deliver=deliver)
        out += run_receivables_demo(engine, work, settings)  # provider simulator, bank file, dunning

        # An agreement we send: through the outbox to Datahub's sendMessage; its ACK comes back in our queue.
        new_point = samples.gsrn(40)
        with Session(engine) as s, s.begin():
            sent_id = send_to_datahub(s, samples.f04_document(
                new_point, datetime(2026, 4, 15, tzinfo=UTC), sender=samples.OUR_SUPPLIER_GLN,
                recipient=samples.DATAHUB_GLN, product_code="EM-SPOT"))
        worker.drain()
        _pull_all(puller)
        worker.drain()
        with Session(engine) as s:
            outbound = s.execute(select(OutboundMessage).where(col(OutboundMessage.message_id) == sent_id)).scalar_one()
        out.append(f"outbound      F04 supplier switch for {new_point}: sent to Datahub as "
                   f"{outbound.datahub_reference}, ACK {outbound.ack_reason_code} -> {outbound.status}")
        client.close()

    counts = _registry_counts(engine)
    out.append("registry      " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    topics = status(engine)
    with Session(engine) as s:
        later: dict[str, int] = dict(s.execute(  # type: ignore[arg-type]
            select(outbox_delivery.c.consumer, func.count()).where(
                outbox_delivery.c.state == "pending", outbox_delivery.c.next_attempt_at > utcnow())
            .group_by(outbox_delivery.c.consumer)).all())
    waiting = ", ".join(f"{t.consumer} {t.pending - later.get(t.consumer, 0)}" for t in topics
                        if t.pending > later.get(t.consumer, 0))
    scheduled = ", ".join(f"{consumer} {n}" for consumer, n in sorted(later.items()))
    out.append(f"outbox        {sum(t.done for t in topics)} deliveries handled, {sum(t.dead for t in topics)} dead "
               f"letters, due and waiting: {waiting or 'none'}; scheduled for later: {scheduled or 'none'}")
    print("\n".join(out))
    print(f"""
where to look (after `. .venv/bin/activate`; the data stays in {engine.url.database})
  gateway outbox status                        queue depth, oldest pending age, dead letters
  gateway rate --accounting-point {POINTS[0]} --from 2026-03-01 --to 2026-03-31
  gateway serve                                then /health, /metrics, POST /soap/b2b, GET /soap/b2b?wsdl
  gateway invoices list --period 2026-03       the invoices, credit notes and corrected invoices
  gateway invoices export --format pdf --out DIR   (also finvoice, json) one file per invoice
  gateway payments summary                     receivables: payment statuses, unmatched queue, provider jobs
  gateway payments unmatched                   the payment that waits for a person, with its reason
  gateway users add anna --role support        then `gateway serve` and open /support/ with the printed token
  {work}/scenario/                         the XML the simulated Datahub delivered
  {work}/invoices/                         Finvoice 3.0 XML and PDF of every invoice and credit note""")
    engine.dispose()
    return 0
