"""Invoices and credit notes as pure functions of priced lines, adjustments and the parties.

Nothing here numbers or stores anything: ``issue`` completes a composed document with the number drawn by
the store, its references, due date and barcode. Every line keeps where it came from (``Line.source``):
``{"rating_result_id", "revision", "line_index"}`` for a priced line, ``{"adjustment_id"}`` for an
adjustment, ``{"credits_line_id"}`` on a credit note.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from gateway.billing.core.barcode import virtual_barcode
from gateway.billing.core.dates import due_date
from gateway.billing.core.model import (
    Buyer,
    Consumption,
    Contract,
    CustomerType,
    Document,
    DocumentKind,
    ElectricityTax,
    Line,
    ReferenceScheme,
    Seller,
)
from gateway.billing.core.numbers import invoice_references
from gateway.billing.core.texts import adjustment_label, component_label
from gateway.billing.core.vat import reversed_vat, vat_summary

HELSINKI = ZoneInfo("Europe/Helsinki")
TAX_COMPONENT = "electricity_tax"


def local_day(instant: datetime, *, ceil: bool = False) -> date:
    local = instant.astimezone(HELSINKI)
    return local.date() + timedelta(days=1) if ceil and local.time() != time(0) else local.date()


@dataclass(frozen=True)
class PricedCharge:
    """One priced line of a recorded rating (the JSON that ``RatingResult.lines`` holds) and its origin."""

    line: dict[str, Any]
    rating_result_id: int
    revision: int
    line_index: int
    product_name: str
    segment: str


@dataclass(frozen=True)
class Adjustment:
    """A pending amount another process asked to put on the customer's next invoice (a reminder fee, late
    interest, a customer credit, a carried correction delta)."""

    id: int
    kind: str
    amount: Decimal
    vat_rate: Decimal
    description: str


def charge_line(charge: PricedCharge) -> Line:
    data = charge.line
    flags = tuple(data.get("flags", ()))
    if not flags:
        flags = tuple(f for f, n in (("estimated", data.get("estimated_intervals", 0)),
                                     ("missing", data.get("missing_intervals", 0))) if n)
    return Line(
        description=f"{charge.product_name}: {component_label(data['component'], charge.segment)}",
        amount=Decimal(data["amount"]),
        vat_rate=Decimal(data["vat_rate"]),
        quantity=Decimal(data["quantity"]),
        unit=data["unit"],
        unit_price=Decimal(data["unit_price"]),
        accounting_point=data["accounting_point"],
        product_code=data["product_code"],
        component=data["component"],
        period_start=local_day(datetime.fromisoformat(data["period_start"])),
        period_end=local_day(datetime.fromisoformat(data["period_end"]), ceil=True),
        vat_kind=data.get("vat_kind"),
        tax_class=data.get("tax_class"),
        flags=flags,
        source={"rating_result_id": charge.rating_result_id, "revision": charge.revision,
                "line_index": charge.line_index},
    )


def adjustment_line(adjustment: Adjustment) -> Line:
    label = adjustment_label(adjustment.kind)
    text = f"{label}: {adjustment.description}" if adjustment.description else label
    return Line(description=text[:100], amount=adjustment.amount, vat_rate=adjustment.vat_rate,
                component=adjustment.kind, source={"adjustment_id": adjustment.id})


def consumption_of(lines: Iterable[dict[str, Any]]) -> dict[tuple[str, str], Decimal]:
    """Delivered energy per (accounting point, unit): the energy components' quantities (a hybrid product's
    fixed and spot shares add up to the whole; the spot margin repeats the spot quantity and is left out)."""
    totals: dict[tuple[str, str], Decimal] = {}
    for line in lines:
        component = line["component"]
        if component.startswith("energy") or component == "spot_energy":
            key = (line["accounting_point"], line["unit"])
            totals[key] = totals.get(key, Decimal(0)) + Decimal(line["quantity"])
    return totals


def electricity_tax(lines: Sequence[Line]) -> ElectricityTax | None:
    taxed = [ln for ln in lines if ln.component == TAX_COMPONENT]
    if not taxed:
        return None
    return ElectricityTax(sum((ln.quantity or Decimal(0) for ln in taxed), Decimal(0)),
                          sum((ln.amount for ln in taxed), Decimal("0.00")))


def compose_invoice(
    *,
    seller: Seller,
    buyer: Buyer,
    period_start: date,
    period_end: date,
    charges: Sequence[PricedCharge],
    adjustments: Sequence[Adjustment] = (),
    invoice_date: date,
    consumption: Sequence[Consumption] = (),
    contracts: Sequence[Contract] = (),
    reference_scheme: ReferenceScheme = ReferenceScheme.NATIONAL,
    payment_term_days: int = 14,
    vat_on_net_credit: bool = False,
    final: bool = False,
    reason: str | None = None,
    original_number: str | None = None,
    original_date: date | None = None,
    extra_lines: Sequence[Line] = (),
) -> Document:
    """An invoice (not yet numbered): rated charges in rating's order, then adjustments."""
    lines = tuple([charge_line(c) for c in charges] + list(extra_lines) + [adjustment_line(a) for a in adjustments])
    return Document(
        kind=DocumentKind.INVOICE, seller=seller, buyer=buyer, period_start=period_start, period_end=period_end,
        lines=lines, vat=vat_summary(lines, vat_on_net_credit), invoice_date=invoice_date,
        reference_scheme=reference_scheme, electricity_tax=electricity_tax(lines), consumption=tuple(consumption),
        contracts=tuple(contracts), final=final, reason=reason, payment_term_days=payment_term_days,
        original_number=original_number, original_date=original_date,
    )


def compose_credit_note(
    *,
    original: Document,
    credited: Sequence[tuple[int, Line]],
    invoice_date: date,
    reason: str,
    buyer: Buyer | None = None,
    vat_on_net_credit: bool = False,
) -> Document:
    """A credit note for ``credited`` (line id, line as invoiced) of ``original``: every amount negated, the
    VAT exactly as it was charged on them, turned."""
    if original.number is None:
        raise ValueError("only an issued invoice can be credited")
    lines = tuple(line.negated({"credits_line_id": line_id}) for line_id, line in credited)
    starts = [ln.period_start for _, ln in credited if ln.period_start]
    ends = [ln.period_end for _, ln in credited if ln.period_end]
    return Document(
        kind=DocumentKind.CREDIT_NOTE, seller=original.seller, buyer=buyer or original.buyer,
        period_start=min(starts, default=original.period_start), period_end=max(ends, default=original.period_end),
        lines=lines, vat=reversed_vat([ln for _, ln in credited], vat_on_net_credit), invoice_date=invoice_date,
        reference_scheme=original.reference_scheme, electricity_tax=electricity_tax(lines),
        original_number=original.number, original_date=original.invoice_date, reason=reason,
        payment_term_days=original.payment_term_days,
    )


def issue(doc: Document, number: str, *, sending_date: date | None = None) -> Document:
    """``doc`` numbered: references from the number, due date on a banking day, the virtual barcode."""
    national, rf = invoice_references(number)
    sent = sending_date or doc.invoice_date
    due = due_date(sent, doc.payment_term_days, consumer=doc.buyer.customer_type is CustomerType.CONSUMER)
    numbered = dataclasses.replace(doc, number=number, reference=national, reference_rf=rf, due_date=due)
    if doc.kind is DocumentKind.INVOICE and numbered.total > 0:
        code = virtual_barcode(doc.seller.iban, numbered.total, numbered.payment_reference or national, due)
        numbered = dataclasses.replace(numbered, barcode=code)
    return numbered
