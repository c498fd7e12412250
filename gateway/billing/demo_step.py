"""The invoicing part of `gateway demo`: a district-heating customer, the month's billing run for all three
legal entities, Finvoice and PDF exports, and a metering correction after billing that the outbox turns into a
credit note and a corrected invoice."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.core.model import Address, CustomerType
from gateway.billing.customers import OWN, CustomerData, add_own_customer
from gateway.billing.export import export_documents
from gateway.billing.runs import bill
from gateway.rating.assignments import AssignmentSpec, assign_product
from gateway.rating.catalogues import active_catalogue
from gateway.rating.core.calendar import local_midnight_utc
from gateway.rating.heat import HeatSeries, store_heat_series
from gateway.store.billing_tables import InvoiceRow
from mappings import e66, samples

HEAT_POINT = samples.gsrn(50)
HEAT_PRODUCT = "KL-KUUKAUSI"
INVOICE_DATE = date(2026, 4, 2)


def _heat_readings(month: date, next_month: date) -> HeatSeries:
    start = local_midnight_utc(month)
    hours = int((local_midnight_utc(next_month) - start) / timedelta(hours=1))
    # 20–60 kWh an hour, more at night and in the morning: a detached house in March.
    values = tuple((20 + (h * 37) % 41) * 1_000_000 for h in range(hours))
    return HeatSeries(start, 60, "kWh", values, tuple(0 for _ in range(hours)))


def add_heat_customer(engine: Engine, month: date, next_month: date) -> int:
    with Session(engine) as session, session.begin():
        customer, _ = add_own_customer(session, CustomerData(
            key=f"{OWN}:KL-1001", source=OWN, name="Asunto Oy Esimerkkitalo", customer_type=CustomerType.BUSINESS,
            address=Address("Lämpökuja 5", "00300", "Helsinki"), business_id="2077474-0", channel="paper"))
        assert customer.id is not None
        catalogue = active_catalogue(session).catalogue
        assign_product(session, AssignmentSpec(HEAT_POINT, HEAT_PRODUCT, date(2025, 1, 1),
                                               contracted_flow_m3h=Decimal("1.2"), customer_id=customer.id),
                       catalogue, source="demo")
        store_heat_series(session, HEAT_POINT, [_heat_readings(month, next_month)])
        return customer.id


def _doubled_day(point: str, day: date) -> bytes:
    """A corrected E66 for one day whose values are twice what was measured first (a meter constant fixed)."""
    document = samples.e66_document(samples.DATAHUB_GLN, samples.OUR_SUPPLIER_GLN, [point], day,
                                    message_id="7d1c9a52-0000-4000-8000-00000000c0r2")
    fixed = tuple(dataclasses.replace(
        t, transaction_id=samples.sample_uuid("doubled", point, day),
        quantities=tuple(None if q is None else q * 2 for q in t.quantities), qualities=tuple("Z01" for _ in
                                                                                             t.quantities))
        for t in document.transactions)
    return e66.build(dataclasses.replace(document, transactions=fixed))


def run_billing_demo(
    engine: Engine, work: Path, *, month: date, next_month: date, points: Sequence[str],
    deliver: Callable[[bytes], None],
) -> list[str]:
    """Bill ``month``, export, correct one billed day through Datahub (``deliver`` puts a message in our queue
    and runs the pull and the outbox), export again; the demo's lines to print."""
    out: list[str] = []
    customer_id = add_heat_customer(engine, month, next_month)
    out.append(f"heating       customer {customer_id} tied to heat point {HEAT_POINT} through its {HEAT_PRODUCT} "
               "assignment; March readings imported")
    report = bill(engine, month, invoice_date=INVOICE_DATE).to_json()
    summary = ", ".join(f"{e} {s['invoices']} ({s['total']} EUR)" for e, s in report["summary"].items())
    out.append(f"billing       {report['period']}: {len(report['invoiced'])} invoices: {summary}; "
               f"held {len(report['held'])}")
    again = bill(engine, month, invoice_date=INVOICE_DATE)
    out.append(f"rerun         the same run again creates {len(again.invoiced)} invoices "
               f"({again.already_billed} periods already billed)")

    # A day of a billed period corrected afterwards: credit note + corrected invoice, made by the outbox.
    deliver(_doubled_day(points[2], month + timedelta(days=11)))
    with Session(engine) as session:
        notes = session.execute(select(InvoiceRow).where(col(InvoiceRow.kind) == "credit_note")).scalars().all()
        for note in notes:
            original = session.get(InvoiceRow, note.original_invoice_id)
            corrected = session.execute(select(InvoiceRow).where(
                col(InvoiceRow.kind) == "invoice", col(InvoiceRow.original_invoice_id) == note.original_invoice_id,
                col(InvoiceRow.id) > note.id)).scalars().first()
            out.append(f"credit note   {note.entity_id} {note.number} credits {note.total} EUR of invoice "
                       f"{original.number if original else '?'}; corrected invoice "
                       f"{corrected.number if corrected else '?'} {corrected.total if corrected else ''} EUR")
            out.append(f"              because of the {note.reason or 'correction'}")
    folders = []
    for fmt in ("finvoice", "pdf"):
        folder = work / "invoices" / fmt
        written = export_documents(engine, fmt, folder)
        folders.append(f"{len(written)} {fmt} files in {folder}")
    out.append("documents     " + "; ".join(folders))
    return out
