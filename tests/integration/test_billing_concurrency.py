"""Gapless numbering under pressure: two billing runs at once, and a run killed half-way (a real process,
SIGKILL) and run again. On PostgreSQL the series row lock serialises the issuing transactions; on SQLite the
write lock does. Either way: no number twice, no gap, no customer billed twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.runs import RunReport, bill
from gateway.domain.identifiers import make_gsrn
from gateway.rating.catalogues import load_catalogue_file
from gateway.store.billing_tables import BilledPeriodRow, InvoiceRow, InvoiceSeriesRow
from gateway.store.db import make_engine
from tests.support.billing_store import MARCH, add_billable_point
from tests.support.processes import ROOT
from tests.support.rating_store import DEMO_CATALOGUE

CUSTOMERS = 24


def _setup(engine: Engine, customers: int = CUSTOMERS) -> None:
    load_catalogue_file(engine, DEMO_CATALOGUE)
    with Session(engine) as s, s.begin():
        for n in range(customers):
            add_billable_point(s, make_gsrn(f"6430088{n:010d}"), customer=n, network=None)


def _assert_gapless_and_once(engine: Engine, customers: int = CUSTOMERS) -> None:
    with Session(engine) as s:
        rows = list(s.execute(select(InvoiceRow).where(col(InvoiceRow.entity_id) == "retail")
                              .order_by(col(InvoiceRow.sequence))).scalars())
        series = s.get(InvoiceSeriesRow, "retail")
        billed = list(s.execute(select(BilledPeriodRow)).scalars())
    assert [r.sequence for r in rows] == list(range(1, customers + 1)), "no gap, no number twice"
    assert [r.number for r in rows] == [f"10{n:07d}" for n in range(1, customers + 1)]
    assert len({r.customer_id for r in rows}) == customers, "every customer billed exactly once"
    assert len(billed) == customers
    assert series is not None and series.next_sequence == customers + 1


def test_two_concurrent_runs_for_the_same_entity_neither_duplicate_nor_skip_a_number(engine: Engine) -> None:
    _setup(engine)
    url = engine.url.render_as_string(hide_password=False)
    start = threading.Barrier(2)
    reports: list[RunReport] = []
    errors: list[BaseException] = []

    def run() -> None:
        own = make_engine(url)  # like a second process: its own connections
        try:
            start.wait(timeout=60)
            reports.append(bill(own, MARCH, entity="retail", invoice_date=date(2026, 4, 2), batch_size=4))
        except BaseException as error:
            errors.append(error)
        finally:
            own.dispose()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == [], [repr(e) for e in errors]
    assert len(reports) == 2
    assert sum(len(r.invoiced) for r in reports) == CUSTOMERS
    assert sum(len(r.invoiced) + r.already_billed for r in reports) == 2 * CUSTOMERS
    _assert_gapless_and_once(engine)


def test_a_run_killed_half_way_and_run_again_completes_without_a_gap_or_a_second_invoice(engine: Engine) -> None:
    _setup(engine)
    url = engine.url.render_as_string(hide_password=False)
    victim = subprocess.Popen([sys.executable, "-m", "tests.support.billing_victim", url], cwd=ROOT,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    try:
        assert victim.stdout is not None
        deadline = time.monotonic() + 240
        seen = []
        while len(seen) < 2 and time.monotonic() < deadline:  # two batches issued, the third under way
            line = victim.stdout.readline().decode().strip()
            if not line:
                break
            seen.append(line)
        assert len(seen) == 2, f"the run did not get going: {seen}"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=60)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    with Session(engine) as s:
        issued_before = len(list(s.execute(select(InvoiceRow.id)).scalars()))
    assert 6 <= issued_before < CUSTOMERS, "killed after two batches, before the end"
    report = bill(engine, MARCH, entity="retail", invoice_date=date(2026, 4, 2))
    assert len(report.invoiced) == CUSTOMERS - issued_before and report.already_billed == issued_before
    _assert_gapless_and_once(engine)
