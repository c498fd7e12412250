"""What receivables will ask of invoicing: invoices by reference and number, open amount, lifecycle, and
adjustments that the customer's next invoice carries."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.core.reference import format_national, format_rf
from gateway.billing.errors import BillingInputError
from gateway.billing.runs import bill
from gateway.billing.service import (
    add_adjustment,
    customer_type,
    invoice_by_number,
    invoice_by_reference,
    invoice_facts,
    mark_sent,
    set_payment_status,
)
from gateway.domain.identifiers import make_gsrn
from gateway.rating.catalogues import load_catalogue_file
from gateway.rating.core.calendar import local_midnight_utc
from gateway.store.billing_tables import InvoiceLineRow, InvoiceRow
from tests.support.billing_store import MARCH, add_billable_point
from tests.support.rating_store import DEMO_CATALOGUE, add_metering

APRIL = date(2026, 4, 1)


@pytest.fixture
def invoiced(engine: Engine) -> Engine:
    load_catalogue_file(engine, DEMO_CATALOGUE)
    with Session(engine) as s, s.begin():
        add_billable_point(s, make_gsrn("64300666000000001"), customer=1)
    bill(engine, MARCH, invoice_date=date(2026, 4, 2))
    return engine


def test_an_invoice_is_found_by_its_reference_in_any_written_form_and_by_its_number(invoiced: Engine) -> None:
    with Session(invoiced) as s:
        row = s.execute(select(InvoiceRow).where(col(InvoiceRow.entity_id) == "retail")).scalar_one()
        for written in (row.reference, format_national(row.reference), row.reference.zfill(20),
                        format_rf(row.reference_rf), row.reference_rf.lower()):
            facts = invoice_by_reference(s, "retail", written)
            assert facts is not None and facts.invoice_id == row.id, written
        assert invoice_by_reference(s, "distribution", row.reference) is None  # references are per entity
        assert invoice_by_reference(s, "retail", row.reference[:-1] + "0" if row.reference[-1] != "0" else
                                    row.reference[:-1] + "1") is None  # a wrong check digit matches nothing
        facts = invoice_by_number(s, "retail", row.number or "")
        assert facts is not None and facts.open_amount == Decimal(row.total) and facts.customer_type == "consumer"
        assert facts.channel == "paper" and facts.due_date == row.due_date
        assert customer_type(s, row.customer_id) == "consumer"


def test_lifecycle_and_payments_change_only_the_lifecycle_columns(invoiced: Engine) -> None:
    with Session(invoiced) as s, s.begin():
        row = s.execute(select(InvoiceRow).where(col(InvoiceRow.entity_id) == "retail")).scalar_one()
        document, finvoice, invoice_id, total = dict(row.document), bytes(row.finvoice), row.id or 0, row.total
        mark_sent(s, row.id or 0)
        mark_sent(s, row.id or 0)
        set_payment_status(s, row.id or 0, "partially_paid", Decimal("10.00"))
        with pytest.raises(BillingInputError):
            set_payment_status(s, row.id or 0, "forgiven")
    with Session(invoiced) as s:
        facts = invoice_facts(s, invoice_id)
        stored = s.get(InvoiceRow, invoice_id)
        assert stored is not None and stored.document == document and bytes(stored.finvoice) == finvoice
    assert facts is not None and facts.status == "sent" and facts.payment_status == "partially_paid"
    assert facts.open_amount == Decimal(total) - Decimal("10.00")


def test_a_reminder_fee_goes_on_the_customers_next_invoice_of_that_entity(invoiced: Engine) -> None:
    with Session(invoiced) as s, s.begin():
        customer_id = s.execute(select(InvoiceRow.customer_id)).scalars().first()
        fee = add_adjustment(s, customer_id=customer_id, entity="retail", kind="reminder_fee",
                             amount=Decimal("5.00"), description="muistutus 100000001", source="receivables")
        with pytest.raises(BillingInputError):
            add_adjustment(s, customer_id=customer_id, entity="retail", kind="tip", amount=Decimal(1))
        add_metering(s, make_gsrn("64300666000000001"), local_midnight_utc(APRIL), [1_000_000] * 720, minutes=60)
    report = bill(invoiced, APRIL, entity="retail", invoice_date=date(2026, 5, 4))
    assert len(report.invoiced) == 1
    with Session(invoiced) as s:
        [line] = s.execute(select(InvoiceLineRow).where(col(InvoiceLineRow.adjustment_id) == fee)).scalars().all()
    assert Decimal(line.amount) == Decimal("5.00") and "Muistutusmaksu" in line.description
