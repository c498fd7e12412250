"""What other parts of the product ask of invoicing (the receivables branch, support, the API).

Look-ups: an invoice by (entity, reference) — national or RF, as a bank file or camt.054 gives it — or by
(entity, number); its open amount, customer type, channel and due date. Lifecycle: ``mark_sent`` (issued →
sent), ``set_payment_status`` (unpaid / partially_paid / paid / overdue / in_collection / credited, with the
amount paid so far). Next invoice: ``add_adjustment`` puts a reminder fee, late interest or a customer credit
on the customer's next invoice of the entity. Issued invoices are never edited otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.core.reference import national_from_rf, parse_reference
from gateway.billing.errors import BillingInputError
from gateway.store.billing_tables import BillingAdjustmentRow, BillingCustomerRow, InvoiceRow
from gateway.store.queries import in_ids, insert_rows_returning_ids
from outbox.types import utcnow

STATUSES = ("draft", "issued", "sent")
PAYMENT_STATUSES = ("unpaid", "partially_paid", "paid", "overdue", "in_collection", "credited")
ADJUSTMENT_KINDS = ("reminder_fee", "late_interest", "credit", "carried_delta")
_NEXT_STATUS = {"draft": ("issued",), "issued": ("sent",), "sent": ()}


@dataclass(frozen=True)
class InvoiceFacts:
    """What receivables needs to know about an invoice."""

    invoice_id: int
    entity: str
    kind: str
    number: str
    reference: str
    reference_rf: str
    customer_id: int
    customer_type: str  # consumer | business
    channel: str
    invoice_date: date
    due_date: date
    total: Decimal
    credited: Decimal  # by credit notes issued for it (a negative amount)
    paid: Decimal
    status: str
    payment_status: str

    @property
    def open_amount(self) -> Decimal:
        """What is still to be paid: total, less what credit notes took off, less payments (never below 0)."""
        return max(self.total + self.credited - self.paid, Decimal("0.00"))


def _facts(session: Session, row: InvoiceRow) -> InvoiceFacts:
    assert row.id is not None and row.number is not None
    credit_notes = [Decimal(t) for t in session.execute(select(col(InvoiceRow.total)).where(
        col(InvoiceRow.original_invoice_id) == row.id, col(InvoiceRow.kind) == "credit_note")).scalars()]
    return InvoiceFacts(
        invoice_id=row.id, entity=row.entity_id, kind=row.kind, number=row.number, reference=row.reference,
        reference_rf=row.reference_rf, customer_id=row.customer_id, customer_type=row.customer_type,
        channel=row.channel, invoice_date=row.invoice_date, due_date=row.due_date, total=Decimal(row.total),
        credited=sum(credit_notes, Decimal("0.00")), paid=Decimal(row.paid_amount), status=row.status,
        payment_status=row.payment_status,
    )


def invoice_by_reference(session: Session, entity: str, reference: str) -> InvoiceFacts | None:
    """The invoice (or credit note) of ``entity`` with this payment reference: national or RF, with spaces or
    leading zeros as payers and bank files write them; None when the check digits fail or nothing matches."""
    compact = parse_reference(reference)
    if compact is None:
        return None
    national = national_from_rf(compact) if compact.startswith("RF") else compact
    q = select(InvoiceRow).where(col(InvoiceRow.entity_id) == entity)
    q = q.where(col(InvoiceRow.reference) == national) if national else q.where(
        col(InvoiceRow.reference_rf) == compact)
    row = session.execute(q.limit(1)).scalar_one_or_none()
    return None if row is None else _facts(session, row)


def invoice_by_number(session: Session, entity: str, number: str) -> InvoiceFacts | None:
    row = session.execute(select(InvoiceRow).where(
        col(InvoiceRow.entity_id) == entity, col(InvoiceRow.number) == number.strip())).scalar_one_or_none()
    return None if row is None else _facts(session, row)


def invoice_facts(session: Session, invoice_id: int) -> InvoiceFacts | None:
    row = session.get(InvoiceRow, invoice_id)
    return None if row is None else _facts(session, row)


def _invoice(session: Session, invoice_id: int) -> InvoiceRow:
    row = session.get(InvoiceRow, invoice_id, with_for_update=True)
    if row is None:
        raise BillingInputError(f"invoice {invoice_id} does not exist")
    return row


def mark_sent(session: Session, invoice_id: int, at: datetime | None = None) -> None:
    """The provider delivered the document: issued → sent (repeating it changes nothing)."""
    row = _invoice(session, invoice_id)
    if row.status == "sent":
        return
    if "sent" not in _NEXT_STATUS[row.status]:
        raise BillingInputError(f"invoice {row.number} is {row.status}; only an issued invoice can be sent")
    row.status, row.sent_at = "sent", at or utcnow()


def set_payment_status(session: Session, invoice_id: int, payment_status: str,
                       paid_amount: Decimal | None = None) -> None:
    """Receivables' view of an invoice's payment: the status and, when given, the amount paid so far."""
    if payment_status not in PAYMENT_STATUSES:
        raise BillingInputError(f"payment status {payment_status!r} is not one of {', '.join(PAYMENT_STATUSES)}")
    row = _invoice(session, invoice_id)
    row.payment_status = payment_status
    if paid_amount is not None:
        row.paid_amount = str(paid_amount.quantize(Decimal("0.01")))


def customer_type(session: Session, customer_id: int) -> str | None:
    row = session.get(BillingCustomerRow, customer_id)
    return None if row is None else row.customer_type


def add_adjustment(session: Session, *, customer_id: int, entity: str, kind: str, amount: Decimal,
                   vat_rate: Decimal = Decimal(0), description: str = "", source: str = "") -> int:
    """An amount for the customer's next invoice of ``entity`` (a credit is negative); its id."""
    _check_adjustment(kind, amount)
    if session.get(BillingCustomerRow, customer_id) is None:
        raise BillingInputError(f"customer {customer_id} does not exist")
    row = BillingAdjustmentRow(customer_id=customer_id, entity_id=entity, kind=kind, amount=str(amount),
                               vat_rate=str(vat_rate), description=description[:200], source=source[:300],
                               status="pending", created_at=utcnow())
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


@dataclass(frozen=True)
class NewAdjustment:
    customer_id: int
    entity: str
    kind: str
    amount: Decimal
    description: str = ""
    source: str = ""
    vat_rate: Decimal = Decimal(0)


def add_adjustments(session: Session, adjustments: Sequence[NewAdjustment]) -> list[int]:
    """``add_adjustment`` for many at once (a bank file's overpayments): the same checks, the customers looked
    up in one query and the rows inserted in bulk; the ids in order."""
    if not adjustments:
        return []
    for a in adjustments:
        _check_adjustment(a.kind, a.amount)
    wanted = sorted({a.customer_id for a in adjustments})
    found: set[int] = set()
    for start in range(0, len(wanted), 10_000):
        part = wanted[start:start + 10_000]
        found |= {i for i in session.execute(select(col(BillingCustomerRow.id)).where(
            in_ids(session, col(BillingCustomerRow.id), part))).scalars() if i is not None}
    missing = [c for c in wanted if c not in found]
    if missing:
        raise BillingInputError(f"customer {missing[0]} does not exist")
    session.flush()  # adjustments added one by one earlier in the transaction come first, as they would
    now = utcnow()
    return insert_rows_returning_ids(session, BillingAdjustmentRow.__table__, [  # type: ignore[attr-defined]
        {"customer_id": a.customer_id, "entity_id": a.entity, "kind": a.kind, "amount": str(a.amount),
         "vat_rate": str(a.vat_rate), "description": a.description[:200], "source": a.source[:300],
         "accounting_point": None, "period_start": None, "period_end": None, "rating_result_id": None,
         "rating_revision": None, "status": "pending", "consumed_by_invoice_id": None, "created_at": now}
        for a in adjustments])


def _check_adjustment(kind: str, amount: Decimal) -> None:
    if kind not in ADJUSTMENT_KINDS:
        raise BillingInputError(f"adjustment kind {kind!r} is not one of {', '.join(ADJUSTMENT_KINDS)}")
    if amount != amount.quantize(Decimal("0.01")):
        raise BillingInputError(f"adjustment amount {amount} has fractions of a cent")
