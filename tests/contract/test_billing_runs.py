"""Billing runs on SQLite and PostgreSQL: one invoice per customer and entity, gapless numbers, idempotent
runs, previews that store nothing, holds with reasons, district heating customers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.core.barcode import decode_barcode
from gateway.billing.core.finvoice import finvoice_issues
from gateway.billing.core.model import Address, CustomerType
from gateway.billing.core.reference import is_valid_national, is_valid_rf
from gateway.billing.customers import OWN, CustomerData, add_own_customer
from gateway.billing.errors import BillingInputError
from gateway.billing.runs import bill
from gateway.domain.identifiers import make_gsrn
from gateway.rating.assignments import AssignmentSpec, assign_product
from gateway.rating.catalogues import active_catalogue, load_catalogue_file
from gateway.rating.core.calendar import local_midnight_utc
from gateway.rating.heat import HeatSeries, store_heat_series
from gateway.rating.service import latest_rating
from gateway.store.billing_tables import (
    BilledPeriodRow,
    BillingCustomerRow,
    BillingRunRow,
    InvoiceLineRow,
    InvoiceRow,
    InvoiceSeriesRow,
)
from gateway.store.rating_tables import RatingResult
from outbox.schema import outbox_message
from tests.support.billing_store import APRIL, MARCH, add_billable_point
from tests.support.rating_store import DEMO_CATALOGUE

INVOICE_DATE = date(2026, 4, 2)


def point(n: int) -> str:
    return make_gsrn(f"6430099{n:010d}")


@pytest.fixture
def loaded(engine: Engine) -> Engine:
    load_catalogue_file(engine, DEMO_CATALOGUE)
    return engine


def _invoices(engine: Engine, entity: str | None = None) -> list[InvoiceRow]:
    with Session(engine) as s:
        q = select(InvoiceRow).order_by(col(InvoiceRow.entity_id), col(InvoiceRow.sequence))
        if entity:
            q = q.where(col(InvoiceRow.entity_id) == entity)
        return list(s.execute(q).scalars())


def test_a_run_bills_one_invoice_per_customer_and_entity_with_gapless_numbers(loaded: Engine) -> None:
    with Session(loaded) as s, s.begin():
        add_billable_point(s, point(1), customer=1)
        add_billable_point(s, point(2), customer=1)  # the same customer's second point
        add_billable_point(s, point(3), customer=2, company=True)
    report = bill(loaded, MARCH, invoice_date=INVOICE_DATE)
    assert report.held == [] and report.rated == 3
    retail, network = _invoices(loaded, "retail"), _invoices(loaded, "distribution")
    assert [r.number for r in retail] == ["100000001", "100000002"]
    assert [r.number for r in network] == ["200000001", "200000002"]
    with Session(loaded) as s:
        customers = {c.id: c for c in s.execute(select(BillingCustomerRow)).scalars()}
        lines = list(s.execute(select(InvoiceLineRow)).scalars())
        ratings = {r.id: r for r in s.execute(select(RatingResult)).scalars()}
        released = s.execute(select(outbox_message.c.topic, outbox_message.c.payload).where(
            outbox_message.c.topic == "invoice.released")).all()
    assert len(customers) == 2 and {c.customer_type for c in customers.values()} == {"consumer", "business"}
    assert all(c.business_id in (None, "2077474-0") for c in customers.values())
    first = retail[0]
    assert first.status == "issued" and first.payment_status == "unpaid"
    assert len({ln.accounting_point for ln in lines if ln.invoice_id == first.id}) == 2
    for row in retail + network:
        assert finvoice_issues(row.finvoice) == []
        assert is_valid_national(row.reference) and is_valid_rf(row.reference_rf)
        fields = decode_barcode(row.barcode)
        assert fields.amount == Decimal(row.total) and fields.due == row.due_date
        assert row.due_date >= date(2026, 4, 16)  # a consumer gets 14 days at least; the term here is 14
        assert b"010160" not in row.finvoice  # never a personal identity code, not even masked
    assert decode_barcode(network[0].barcode).reference == network[0].reference_rf  # distribution uses RF
    for line in lines:  # every priced line points back to the rating result and the line it came from
        rating = ratings[line.rating_result_id]
        source = rating.lines[line.priced_line_index]
        assert (source["amount"], source["component"]) == (line.amount, line.component)
        assert line.rating_revision == rating.revision
    assert sorted(p["number"] for _, p in released) == ["100000001", "100000002", "200000001", "200000002"]
    assert {p["provider_mode"] for _, p in released} == {"print_only", "full_service"}


def test_running_again_creates_nothing_and_a_dry_run_numbers_and_stores_nothing(loaded: Engine) -> None:
    with Session(loaded) as s, s.begin():
        add_billable_point(s, point(1), customer=1)
        add_billable_point(s, point(2), customer=2)
    preview = bill(loaded, MARCH, dry_run=True, invoice_date=INVOICE_DATE)
    assert [i["number"] for i in preview.invoiced] == [None] * 4
    with Session(loaded) as s:
        for table in (InvoiceRow, RatingResult, BillingCustomerRow, InvoiceSeriesRow, BillingRunRow):
            assert s.execute(select(func.count()).select_from(table)).scalar_one() == 0, table
    real = bill(loaded, MARCH, invoice_date=INVOICE_DATE)
    assert [(i["entity"], i["total"]) for i in real.invoiced] == [(i["entity"], i["total"]) for i in preview.invoiced]
    again = bill(loaded, MARCH, invoice_date=INVOICE_DATE)
    assert again.invoiced == [] and again.already_billed == 4
    assert len(_invoices(loaded)) == 4
    with Session(loaded) as s:
        runs = list(s.execute(select(BillingRunRow).order_by(col(BillingRunRow.id))).scalars())
    assert [r.status for r in runs] == ["completed", "completed"]
    assert runs[0].report is not None and runs[0].report["summary"]["retail"]["invoices"] == 2


def test_held_invoices_are_reported_with_their_reason_and_the_rest_is_billed(loaded: Engine) -> None:
    with Session(loaded) as s, s.begin():
        add_billable_point(s, point(1), customer=1)
        add_billable_point(s, point(2), customer=2, street=None)  # no address
        add_billable_point(s, point(3), customer=3, metering=False)  # no metering data at all
        add_billable_point(s, point(4), customer=4, product="EM-SPOT")  # no spot prices stored
        add_billable_point(s, point(5), customer=5, product="NO-SUCH-PRODUCT")
    report = bill(loaded, MARCH, invoice_date=INVOICE_DATE)
    reasons = {(h["accounting_point"], h["entity"]): h["reason"] for h in report.held}
    assert "customer has no address" in reasons[(point(2), "retail")]
    assert "missing metering data" in reasons[(point(3), "retail")]
    assert "missing spot price" in reasons[(point(4), "retail")] or "spot" in reasons[(point(4), "retail")]
    assert "not in the catalogue" in reasons[(point(5), None)]
    assert {i["accounting_points"][0] for i in report.invoiced} == {point(1)}
    with Session(loaded) as s:  # nothing half-issued: a held point has no billed period, no invoice line
        assert {b.accounting_point for b in s.execute(select(BilledPeriodRow)).scalars()} == {point(1)}


def test_a_district_heating_customer_is_billed_through_the_heat_points_assignment(loaded: Engine) -> None:
    heat = point(9)
    with Session(loaded) as s, s.begin():
        customer, created = add_own_customer(s, CustomerData(
            key=f"{OWN}:H-1", source=OWN, name="Asunto Oy Lämpö", customer_type=CustomerType.BUSINESS,
            address=Address("Lämpökuja 5", "00300", "Helsinki"), business_id="2345678-0"))
        assert created
        customer_id = customer.id
        assign_product(s, AssignmentSpec(heat, "KL-KUUKAUSI", date(2025, 1, 1), contracted_flow_m3h=Decimal("1.2"),
                                         customer_id=customer.id), active_catalogue(s).catalogue)
        start = local_midnight_utc(MARCH)
        hours = int((local_midnight_utc(APRIL) - start).total_seconds() // 3600)
        store_heat_series(s, heat, [HeatSeries(start, 60, "kWh", tuple([40_000_000] * hours), tuple([0] * hours))])
    report = bill(loaded, MARCH, entity="heating", invoice_date=INVOICE_DATE)
    [invoice] = _invoices(loaded, "heating")
    assert report.held == [] and invoice.number == "300000001" and invoice.customer_id == customer_id
    tree = etree.fromstring(invoice.finvoice)
    assert tree.findtext("BuyerPartyDetails/BuyerPartyIdentifier") == "2345678-0"
    assert {r.findtext("InvoicedQuantity") for r in tree.iter("InvoiceRow")} >= {"29,72"}  # 743 h × 40 kWh


def test_a_heat_point_without_a_customer_is_held_and_an_unknown_entity_is_bad_input(loaded: Engine) -> None:
    with Session(loaded) as s, s.begin():
        assign_product(s, AssignmentSpec(point(8), "KL-KUUKAUSI", date(2025, 1, 1), contracted_flow_m3h=Decimal(1)),
                       active_catalogue(s).catalogue)
    report = bill(loaded, MARCH, entity="heating", invoice_date=INVOICE_DATE)
    assert [h["reason"] for h in report.held] == ["no customer: assign the heat product with --customer"]
    with pytest.raises(BillingInputError, match="not in the catalogue"):
        bill(loaded, MARCH, entity="gas")


def test_the_run_rates_a_period_never_rated_and_reuses_a_recorded_one(loaded: Engine) -> None:
    with Session(loaded) as s, s.begin():
        add_billable_point(s, point(1), customer=1)
    bill(loaded, MARCH, entity="retail", invoice_date=INVOICE_DATE)
    with Session(loaded) as s:
        rating = latest_rating(s, point(1), MARCH, APRIL)
    assert rating is not None and rating.revision == 1 and rating.cause == "billing run 2026-03"
    network = bill(loaded, MARCH, entity="distribution", invoice_date=INVOICE_DATE)
    assert network.rated == 0 and len(network.invoiced) == 1
