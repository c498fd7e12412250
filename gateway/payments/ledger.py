"""An invoice's payment state, derived from what receivables stored: the amounts allocated to it, the credit
notes issued for it, the provider's status and amounts (full service: the provider collects), and our own
dunning steps. ``refresh`` recomputes it for many invoices at once and writes only what changed, into the
invoice's lifecycle columns (``paid_amount``, ``payment_status``) that receivables owns.

Status, first rule that holds: fully credited → ``credited``; nothing left to pay → ``paid``; handed over to
collection (our step or the provider's status) → ``in_collection``; reminded (our step or the provider's) →
``overdue``; something paid → ``partially_paid``; else ``unpaid``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from gateway.payments.provider.api import JobStatus, JobType
from gateway.store import queries
from gateway.store.billing_tables import InvoiceRow
from gateway.store.payments_tables import DunningStepRow, PaymentAllocationRow, ProviderJobRow
from outbox.bulk import pg_array_literal

ZERO: Final = Decimal("0.00")
CENT: Final = Decimal("0.01")
CHUNK: Final = 10_000


def in_ids(session: Session, column: Any, ids: Collection[int]) -> ColumnElement[bool]:
    """``column IN ids``: one array parameter on PostgreSQL, bind parameters on SQLite."""
    return queries.in_ids(session, column, ids)


def in_strings(session: Session, column: Any, values: Collection[str]) -> ColumnElement[bool]:
    return queries.in_values(session, column, values)


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


@dataclass
class InvoiceState:
    invoice_id: int
    entity: str
    number: str
    customer_id: int
    total: Decimal
    credited: Decimal = ZERO  # negative: what credit notes took off
    allocated: Decimal = ZERO
    provider_paid: Decimal = ZERO
    full_service: bool = False
    provider_status: str | None = None
    reminded: bool = False
    in_collection: bool = False
    paid_amount: str = "0.00"
    payment_status: str = "unpaid"

    @property
    def paid(self) -> Decimal:
        paid = self.allocated
        if self.full_service:  # the provider collects: what it received counts (never beyond the total)
            paid = max(paid, min(self.provider_paid, self.total + self.credited))
        return paid

    @property
    def open_amount(self) -> Decimal:
        return max(self.total + self.credited - self.paid, ZERO)

    def status(self) -> str:
        if self.total + self.credited <= 0 and self.credited < 0:
            return "credited"
        if self.open_amount <= 0:
            return "paid"
        if self.in_collection or self.provider_status == JobStatus.COLLECTION.value:
            return "in_collection"
        if self.reminded or self.provider_status == JobStatus.REMINDER.value:
            return "overdue"
        return "partially_paid" if self.paid > 0 else "unpaid"


STATE_COLUMNS: Final = (col(InvoiceRow.id), col(InvoiceRow.entity_id), col(InvoiceRow.number),
                        col(InvoiceRow.customer_id), col(InvoiceRow.total), col(InvoiceRow.paid_amount),
                        col(InvoiceRow.payment_status))


def state_of(row: Sequence[Any]) -> InvoiceState:
    """An invoice's state from its ``STATE_COLUMNS``, before ``add_payments`` completes it."""
    return InvoiceState(int(row[0] or 0), row[1], row[2] or "", row[3], Decimal(row[4]), paid_amount=row[5],
                        payment_status=row[6])


def load_states(session: Session, invoice_ids: Collection[int], *, lock: bool = False) -> dict[int, InvoiceState]:
    """The payment state of these invoices (credit notes are left out: they are not paid)."""
    states: dict[int, InvoiceState] = {}
    ids = sorted(set(invoice_ids))
    for part in chunks(ids):
        q = select(*STATE_COLUMNS).where(in_ids(session, col(InvoiceRow.id), part), col(InvoiceRow.kind) == "invoice")
        if lock:
            q = q.with_for_update()
        found = {state.invoice_id: state for state in map(state_of, session.execute(q))}
        add_payments(session, found)
        states.update(found)
    return states


def add_payments(session: Session, states: dict[int, InvoiceState]) -> None:
    """Complete freshly read states (``state_of``) with what credit notes, allocations, the provider's job and
    our dunning steps say about them."""
    if not states:
        return
    among = queries.ids_matcher(session, sorted(states))
    for original, total in session.execute(select(col(InvoiceRow.original_invoice_id), col(InvoiceRow.total)).where(
            among(col(InvoiceRow.original_invoice_id)), col(InvoiceRow.kind) == "credit_note")):
        states[int(original or 0)].credited += Decimal(total)
    for invoice_id, amount in session.execute(
            select(col(PaymentAllocationRow.invoice_id), col(PaymentAllocationRow.amount)).where(
                among(col(PaymentAllocationRow.invoice_id)),
                col(PaymentAllocationRow.kind) == "invoice")):
        states[int(invoice_id or 0)].allocated += Decimal(amount)
    jobs = select(col(ProviderJobRow.invoice_id), col(ProviderJobRow.jobtype), col(ProviderJobRow.provider_status),
                  col(ProviderJobRow.provider_paid))
    for invoice_id, jobtype, status, paid in session.execute(
            jobs.where(among(col(ProviderJobRow.invoice_id)))):
        state = states[invoice_id]
        state.full_service = jobtype == JobType.INVOICE
        state.provider_status = status
        state.provider_paid = Decimal(paid)
    for invoice_id, kind in session.execute(select(col(DunningStepRow.invoice_id), col(DunningStepRow.kind)).where(
            among(col(DunningStepRow.invoice_id)),
            col(DunningStepRow.kind).in_(["reminder", "collection"]))):
        if kind == "reminder":
            states[invoice_id].reminded = True
        else:
            states[invoice_id].in_collection = True


def refresh(session: Session, invoice_ids: Collection[int]) -> dict[int, InvoiceState]:
    """Recompute and store the payment state of these invoices; returns the states."""
    states = load_states(session, invoice_ids)
    write(session, states.values())
    return states


def write(session: Session, states: Iterable[InvoiceState]) -> int:
    """Store the states' paid amount and status where they differ from what the invoice row holds."""
    changed = []
    for state in states:
        paid, status = str(state.paid.quantize(CENT)), state.status()
        if (paid, status) != (state.paid_amount, state.payment_status):
            changed.append((state.invoice_id, paid, status))
            state.paid_amount, state.payment_status = paid, status
    if not changed:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        for part in chunks(changed):
            session.execute(text(
                "UPDATE invoice SET paid_amount = v.paid, payment_status = v.status "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:paid AS text[]), CAST(:status AS text[])) "
                "AS v(id, paid, status) WHERE invoice.id = v.id"),
                {"ids": pg_array_literal(c[0] for c in part), "paid": pg_array_literal(c[1] for c in part),
                 "status": pg_array_literal(c[2] for c in part)})
    else:
        session.execute(update(InvoiceRow.__table__).where(  # type: ignore[attr-defined]
            InvoiceRow.__table__.c.id == bindparam("row_id")).values(  # type: ignore[attr-defined]
            paid_amount=bindparam("b_paid"), payment_status=bindparam("b_status")),
            [{"row_id": i, "b_paid": p, "b_status": s} for i, p, s in changed])
    return len(changed)
