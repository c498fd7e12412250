"""Corrections after billing and final invoices, end to end through the receive pipeline and the outbox:
a corrected E66 for a billed day becomes a credit note and a corrected invoice whose difference is the rating
delta and whose reason names the correcting message; a small delta carries to the next invoice; an F06 end
notice produces the final invoice."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from lxml import etree
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.core.finvoice import finvoice_issues
from gateway.billing.corrections import correct_billed_period
from gateway.billing.runs import bill
from gateway.bootstrap import build_registry
from gateway.config import Settings
from gateway.rating.catalogues import load_catalogue_file
from gateway.rating.service import latest_rating
from gateway.receive import CHANNEL_DATAHUB, Receiver
from gateway.store.billing_tables import BillingAdjustmentRow, InvoiceLineRow, InvoiceRow
from mappings import e66, samples
from outbox.worker import Worker
from tests.support.pipeline import register_parties
from tests.support.rating_store import DEMO_CATALOGUE

MARCH, APRIL, MAY = date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1)
POINT = samples.gsrn(71)
CORRECTION_ID = "c0rrec71-0000-4000-8000-000000000001"


def _receive(receiver: Receiver, body: bytes) -> None:
    outcome = receiver.receive(body, authenticated_gln=samples.DATAHUB_GLN, channel=CHANNEL_DATAHUB)
    assert outcome.result == "accepted", outcome.to_json()


def _drain(engine: Engine) -> list[tuple[str, str]]:
    worker = Worker(engine, build_registry(Settings(database_url=str(engine.url)), engine))
    return [(o.message.topic, o.result) for o in worker.drain(max_rounds=50)]


def _month(receiver: Receiver, first: date, end: date, seed: int = 0) -> None:
    day = first
    while day < end:
        _receive(receiver, samples.e66_message(samples.DATAHUB_GLN, samples.OUR_SUPPLIER_GLN, [POINT], day,
                                               seed=seed))
        day += timedelta(days=1)


@pytest.fixture
def billed(engine: Engine) -> tuple[Engine, Receiver]:
    """A consumer on a fixed-price product + time-of-day network, March received and billed."""
    load_catalogue_file(engine, DEMO_CATALOGUE)
    register_parties(engine)
    receiver = Receiver(engine)
    _receive(receiver, samples.e58_message(POINT, datetime(2025, 1, 1, tzinfo=UTC)))
    _receive(receiver, samples.f04_message(POINT, datetime(2025, 6, 1, tzinfo=UTC), product_code="EM-KIINTEA",
                                           customer=samples.sample_customer(3)))
    from gateway.rating.assignments import AssignmentSpec, assign_product
    from gateway.rating.catalogues import active_catalogue

    with Session(engine) as s, s.begin():
        assign_product(s, AssignmentSpec(POINT, "SV-AIKA", date(2025, 1, 1)), active_catalogue(s).catalogue)
    _month(receiver, MARCH, APRIL)
    _drain(engine)
    report = bill(engine, MARCH, invoice_date=date(2026, 4, 2))
    assert len(report.invoiced) == 2 and report.held == []
    return engine, receiver


def _corrected_day(day: date, factor: Decimal, hours: int = 96) -> bytes:
    document = samples.e66_document(samples.DATAHUB_GLN, samples.OUR_SUPPLIER_GLN, [POINT], day,
                                    message_id=CORRECTION_ID)
    fixed = tuple(dataclasses.replace(
        t, transaction_id=samples.sample_uuid("corrected", day, factor),
        quantities=tuple(q * factor if q is not None and i < hours else q for i, q in enumerate(t.quantities)))
        for t in document.transactions)
    return e66.build(dataclasses.replace(document, transactions=fixed))


def _documents(engine: Engine) -> list[InvoiceRow]:
    with Session(engine) as s:
        return list(s.execute(select(InvoiceRow).order_by(col(InvoiceRow.id))).scalars())


def test_a_metering_correction_after_billing_credits_and_rebills_by_exactly_the_delta(
        billed: tuple[Engine, Receiver]) -> None:
    engine, receiver = billed
    before = {r.id: r for r in _documents(engine)}
    _receive(receiver, _corrected_day(date(2026, 3, 12), Decimal(3)))
    outcomes = _drain(engine)
    assert ("rating.revised", "done") in outcomes
    with Session(engine) as s:
        rating = latest_rating(s, POINT, MARCH, APRIL)
    assert rating is not None and rating.revision == 2
    new = [r for r in _documents(engine) if r.id not in before]
    notes = [r for r in new if r.kind == "credit_note"]
    corrected = [r for r in new if r.kind == "invoice"]
    assert {r.entity_id for r in notes} == {r.entity_id for r in corrected} == {"retail", "distribution"}
    difference = sum(Decimal(r.total_excl_vat) for r in new)
    assert difference == Decimal(rating.delta_total) != 0
    for note in notes:
        original = before[note.original_invoice_id]
        tree = etree.fromstring(note.finvoice)
        assert finvoice_issues(note.finvoice) == []
        assert tree.findtext("InvoiceDetails/InvoiceTypeCode") == "INV02"
        assert tree.findtext("InvoiceDetails/OriginalInvoiceNumber") == original.number
        assert Decimal(note.total) == -Decimal(original.total)  # one point on the invoice: all of it credited
        assert CORRECTION_ID in (note.reason or "") and samples.DATAHUB_GLN in (note.reason or "")
    for invoice in corrected:
        assert CORRECTION_ID in (invoice.reason or "")
        assert invoice.original_invoice_id in before
        assert before[invoice.original_invoice_id].entity_id == invoice.entity_id
    with Session(engine) as s:
        credited = {ln.credits_line_id for ln in s.execute(select(InvoiceLineRow)).scalars() if ln.credits_line_id}
        rebilled = [ln for ln in s.execute(select(InvoiceLineRow).where(
            col(InvoiceLineRow.invoice_id).in_([r.id for r in corrected]))).scalars()]
        originals = {r.id: r for r in s.execute(select(InvoiceRow).where(
            col(InvoiceRow.id).in_(list(before)))).scalars()}
        original_lines = {ln.id for ln in s.execute(select(InvoiceLineRow).where(
            col(InvoiceLineRow.invoice_id).in_(list(before)))).scalars()}
    assert credited == original_lines  # every billed line credited once
    assert {ln.rating_result_id for ln in rebilled} == {rating.id}
    assert all(r.payment_status == "credited" for r in originals.values())
    # Nothing more happens on a repeated event or a billing run over the period.
    with Session(engine) as s, s.begin():
        assert correct_billed_period(s, POINT, MARCH, APRIL) == []
    assert bill(engine, MARCH, invoice_date=date(2026, 4, 2)).invoiced == []


def test_a_small_delta_carries_to_the_next_invoice(billed: tuple[Engine, Receiver]) -> None:
    engine, receiver = billed
    count = len(_documents(engine))
    _receive(receiver, _corrected_day(date(2026, 3, 12), Decimal("1.5"), hours=2))
    _drain(engine)
    assert len(_documents(engine)) == count  # no credit note for a few cents
    with Session(engine) as s:
        carried = list(s.execute(select(BillingAdjustmentRow)).scalars())
        rating = latest_rating(s, POINT, MARCH, APRIL)
    assert carried and {a.kind for a in carried} == {"carried_delta"} and {a.status for a in carried} == {"pending"}
    assert rating is not None and sum(Decimal(a.amount) for a in carried) == Decimal(rating.delta_total)
    _month(receiver, APRIL, MAY, seed=4)
    _drain(engine)
    report = bill(engine, APRIL, invoice_date=date(2026, 5, 4))
    assert len(report.invoiced) == 2
    with Session(engine) as s:
        consumed = list(s.execute(select(BillingAdjustmentRow)).scalars())
        lines = list(s.execute(select(InvoiceLineRow).where(col(InvoiceLineRow.adjustment_id).is_not(None)))
                     .scalars())
    assert {a.status for a in consumed} == {"consumed"}
    assert sorted(Decimal(ln.amount) for ln in lines) == sorted(Decimal(a.amount) for a in consumed)


def test_an_end_notice_produces_the_final_invoice_and_the_monthly_run_does_not_bill_it_again(
        billed: tuple[Engine, Receiver]) -> None:
    engine, receiver = billed
    _month(receiver, APRIL, MAY, seed=5)
    with Session(engine) as s:
        from gateway.store.tables import SalesAgreementRow

        agreement_id = s.execute(select(SalesAgreementRow.agreement_id)).scalars().first()
    end = datetime(2026, 4, 15, 21, tzinfo=UTC)  # supply ends with 15.4. (local midnight 16.4.)
    _receive(receiver, samples.f06_message(POINT, end, agreement_id=agreement_id))
    outcomes = _drain(engine)
    assert ("masterdata.agreement", "done") in outcomes and ("billing.final_invoice", "done") in outcomes
    finals = [r for r in _documents(engine) if r.final]
    assert {r.entity_id for r in finals} == {"retail", "distribution"}
    for row in finals:
        assert (row.period_start, row.period_end) == (APRIL, date(2026, 4, 16))
        assert "Loppulasku" in (row.reason or "")
        assert etree.fromstring(row.finvoice).findtext("InvoiceDetails/InvoiceTypeText").startswith("LOPPULASKU")
    assert bill(engine, APRIL, invoice_date=date(2026, 5, 4)).invoiced == []
