"""Billing run benchmark: N customers (retail + distribution invoices each) billed for a month from the store.

Setup (not timed): a fresh migrated database per backend with the demo catalogue, N consumers, each with an
F04 agreement (fixed-price retail), a general network product, E58 master data and the month's rating already
recorded (one real rating of one point, its lines copied to every point: rating is benchmarked on its own by
``bench_rating_e2e``).

Timed, in the same run:
* baseline — building and validating the same Finvoice documents alone: every draft composed in memory,
  numbered and turned into Finvoice 3.0 XML validated against the official XSD (lxml/libxml2), nothing stored;
  measured right before and right after the run, the mean of the two taken (this machine is shared);
* the billing run — ``gateway.billing.runs.bill``: plan, customers from F04/F01, compose, issue in batches
  (series lock, numbers, Finvoice build + XSD validation, invoice + lines + billed periods + release events
  stored), on SQLite and PostgreSQL;
* PDFs separately: ``render_pdf`` of a sample of the issued documents.
The run should reach ≥ 50 % of the baseline's documents per second. The projection scales the measured rate to
a 500,000-customer month (1,000,000 invoices) on this machine with one process.

Run: ``PYTHONPATH=. .venv/bin/python -m bench.bench_billing [--customers 10000]``; PostgreSQL is included
when ``GATEWAY_BENCH_POSTGRES_URL`` or ``GATEWAY_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bench.common import backends, fresh_database, print_table
from gateway.billing.core.compose import issue
from gateway.billing.core.finvoice import validated_finvoice
from gateway.billing.core.numbers import NumberSeries
from gateway.billing.core.pdf import render_pdf
from gateway.billing.core.serialize import document_from_json
from gateway.billing.plan import Group, Rating, Unit, compose_group, resolve_customer
from gateway.billing.runs import bill
from gateway.domain.identifiers import make_gsrn
from gateway.rating.catalogues import active_catalogue, store_catalogue
from gateway.rating.core.calendar import local_midnight_utc
from gateway.rating.service import rate_in_session, record_rating
from gateway.store.billing_tables import InvoiceRow
from gateway.store.db import make_engine
from gateway.store.metering import SeriesKey, next_versions
from gateway.store.migrate import upgrade
from gateway.store.rating_tables import ProductAssignmentRow, RatingResult
from gateway.store.tables import AccountingPointRow, MeteringSeriesRow, SalesAgreementRow
from outbox.types import utcnow

ROOT = Path(__file__).resolve().parent.parent
MARCH, APRIL = date(2026, 3, 1), date(2026, 4, 1)
INVOICE_DATE = date(2026, 4, 2)
CHUNK = 2000
PROJECTED_CUSTOMERS = 500_000


def _point(n: int) -> str:
    return make_gsrn(f"64301{n:012d}")


def _agreement(n: int) -> dict[str, Any]:
    gsrn = _point(n)
    return {
        "accounting_point": gsrn, "agreement_id": f"A-{n}", "customer_key": f"pic:{n:032x}",
        "supplier_gln": None, "start": local_midnight_utc(date(2025, 1, 1)), "end": None,
        "product_code": "EM-KIINTEA", "invoicing_channel": "AI01", "e_invoice_address": None, "notice": None,
        "attributes": {"accounting_point": gsrn, "agreement": {"agreement_id": f"A-{n}", "invoicing_channel": "AI01",
                                                               "customers": [{
            "identification": "010160-****", "identification_type": "AA03", "customer_type": "AB02",
            "given_name": "Asiakas", "family_name": f"Numero {n}",
            "address": {"street_name": "Kotikatu", "building_number": str(n % 200 + 1), "postcode": "00100",
                        "city": "Helsinki", "country_code": "FI"}}]}},
        "status": "active", "message_pk": 1, "ended_by_message_pk": None, "received_at": utcnow(),
    }


def setup(engine: Engine, customers: int) -> None:
    now = utcnow()
    with Session(engine) as s, s.begin():
        store_catalogue(s, (ROOT / "catalogue" / "demo.toml").read_text(), "toml", "catalogue/demo.toml")
    # One real rating: metering for the first point, rated and recorded through the rating service.
    first = _point(0)
    start = local_midnight_utc(MARCH)
    hours = int((local_midnight_utc(APRIL) - start) / timedelta(hours=1))
    with Session(engine, expire_on_commit=False) as s, s.begin():
        s.execute(insert(AccountingPointRow), [{"gsrn": first, "valid_from": local_midnight_utc(date(2020, 1, 1)),
                                                "main_fuse": "3x25", "tax_category": "1", "resolution": "PT1H",
                                                "message_pk": 1, "received_at": now}])
        s.execute(insert(SalesAgreementRow), [_agreement(0)])
        s.execute(insert(ProductAssignmentRow), [{"accounting_point": first, "product_code": "SV-YLEIS",
                                                  "segment": "network", "valid_from": date(2020, 1, 1),
                                                  "main_fuse": "3x25A", "source": "bench", "created_at": now}])
        end = start + timedelta(hours=hours)
        (version,) = next_versions(s, [SeriesKey(first, "8716867000030", "PT1H", start, end)])
        s.execute(insert(MeteringSeriesRow), [{
            "accounting_point": first, "product": "8716867000030", "unit": "kWh", "resolution": "PT1H",
            "period_start": start, "period_end": start + timedelta(hours=hours), "version": version,
            "positions": hours, "values": np.full(hours, 1_200_000, dtype="<i8").tobytes(),
            "quality": bytes(hours), "transaction_id": "bench", "message_pk": 1, "received_at": now}])
        rated = rate_in_session(s, first, MARCH, APRIL)
        record_rating(s, rated, "bench")
        template = s.execute(select(RatingResult)).scalar_one()
    for lo in range(1, customers, CHUNK):
        hi = min(customers, lo + CHUNK)
        with Session(engine) as s, s.begin():
            s.execute(insert(AccountingPointRow), [{
                "gsrn": _point(n), "valid_from": local_midnight_utc(date(2020, 1, 1)), "main_fuse": "3x25",
                "tax_category": "1", "resolution": "PT1H", "message_pk": 1, "received_at": now} for n in range(lo, hi)])
            s.execute(insert(SalesAgreementRow), [_agreement(n) for n in range(lo, hi)])
            s.execute(insert(ProductAssignmentRow), [{
                "accounting_point": _point(n), "product_code": "SV-YLEIS", "segment": "network",
                "valid_from": date(2020, 1, 1), "main_fuse": "3x25A", "source": "bench", "created_at": now}
                for n in range(lo, hi)])
            s.execute(insert(RatingResult), [{
                "accounting_point": _point(n), "period_start": MARCH, "period_end": APRIL, "revision": 1,
                "lines": [{**ln, "accounting_point": _point(n)} for ln in template.lines],
                "delta": [], "total": template.total, "delta_total": template.total, "inputs": template.inputs,
                "catalogue_version_id": template.catalogue_version_id, "cause": "bench", "created_at": now}
                for n in range(lo, hi)])


def baseline(engine: Engine, customers: int) -> tuple[float, int]:
    """Seconds to compose, number, build and XSD-validate every invoice of the run, storing nothing."""
    with Session(engine) as s:
        active = active_catalogue(s)
        ratings = {r.accounting_point: r for r in s.execute(select(RatingResult)).scalars()}
        agreements = list(s.execute(select(SalesAgreementRow).order_by(SalesAgreementRow.id)
                                    .limit(customers)).scalars())
        units = []
        for a in agreements:
            unit = Unit(a.accounting_point, MARCH, APRIL, {"retail", "distribution"}, agreement=a)
            _, buyer = resolve_customer(s, unit, active, store=False)
            units.append((unit, buyer))
    started = time.perf_counter()
    documents = 0
    for entity_id in ("distribution", "retail"):
        entity = active.catalogue.entities[entity_id]
        assert entity.invoicing is not None
        numbers = NumberSeries(entity.invoicing.number_prefix, entity.invoicing.number_width)
        for i, (unit, buyer) in enumerate(units):
            r = ratings[unit.accounting_point]
            rating = Rating(r.id or 0, r.revision, r.lines)
            lines = [(j, d) for j, d in enumerate(r.lines) if d["legal_entity"] == entity_id]
            group = Group(entity, i + 1, buyer, [(unit, rating, lines)])
            draft = compose_group(group, active, invoice_date=INVOICE_DATE, adjustments=[], previous={})
            validated_finvoice(issue(draft.doc, numbers.number(i + 1), sending_date=INVOICE_DATE))
            documents += 1
    return time.perf_counter() - started, documents


def pdf_rate(engine: Engine, sample: int = 200) -> float:
    with Session(engine) as s:
        docs = [document_from_json(r.document) for r in s.execute(select(InvoiceRow).limit(sample)).scalars()]
    started = time.perf_counter()
    for doc in docs:
        render_pdf(doc)
    return len(docs) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    args = parser.parse_args()
    rows = []
    for backend in backends():
        with fresh_database(backend) as url:
            engine = make_engine(url)
            upgrade(engine)
            setup(engine, args.customers)
            baseline(engine, 20)  # warm-up: the XSD compiled, the holiday calendar built, caches filled
            before, documents = baseline(engine, args.customers)
            started = time.perf_counter()
            report = bill(engine, MARCH, invoice_date=INVOICE_DATE)
            run_seconds = time.perf_counter() - started
            after, _ = baseline(engine, args.customers)  # right before and right after: a shared machine drifts
            base_seconds = (before + after) / 2
            issued = len(report.invoiced)
            assert issued == documents == 2 * args.customers and not report.held, (issued, documents, report.held)
            pdfs = pdf_rate(engine)
            base_rate, run_rate = documents / base_seconds, issued / run_seconds
            projected = 2 * PROJECTED_CUSTOMERS / run_rate / 60
            rows.append([backend, f"{args.customers:,}", f"{base_rate:,.0f}", f"{run_rate:,.0f}",
                         f"{run_rate / base_rate:.0%}" + (" ✓" if run_rate >= 0.5 * base_rate else ""),
                         f"{pdfs:,.0f}", f"{projected:,.0f} min"])
            engine.dispose()
    print_table(["backend", "customers", "Finvoice build + XSD docs/s", "billing run invoices/s",
                 "run / baseline (target ≥ 50 %)", "PDF/s (separately)", "500,000 customers (1 M invoices)"],
                rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
