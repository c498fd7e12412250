"""What the CLI and (later) the support API ask of receivables: payments, the unmatched queue, manual
allocation, an invoice's payments, the receivables summary. Each function works in the caller's session;
the writing ones (``allocate_manually``) in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.errors import BillingInputError
from gateway.events import PROVIDER_REQUEST
from gateway.payments import ledger
from gateway.payments.entities import catalogue_entities, own_accounts, provider_account
from gateway.store.billing_tables import InvoiceRow
from gateway.store.payments_tables import (
    BankEntryRow,
    BankFileRow,
    DisconnectionTaskRow,
    DunningStepRow,
    PaymentAllocationRow,
    ProviderJobRow,
    ProviderRequestRow,
    UnmatchedPaymentRow,
)
from outbox.types import utcnow

ZERO = Decimal("0.00")


class PaymentInputError(BillingInputError):
    """A request about payments that cannot be done as asked (unknown id, amount too large, …)."""


class UnknownUnmatched(PaymentInputError):
    """No unmatched payment has that id."""


class AllocationRefused(PaymentInputError):
    """The amount asked is more than the payment has left or the invoice has open (or nothing is left)."""


def list_unmatched(session: Session, *, include_resolved: bool = False, limit: int = 1000) -> list[dict[str, Any]]:
    """The unmatched-payments queue, oldest first: money nobody has put anywhere yet, with the reason."""
    q = select(UnmatchedPaymentRow).order_by(col(UnmatchedPaymentRow.id)).limit(limit)
    if not include_resolved:
        q = q.where(col(UnmatchedPaymentRow.status) == "open")
    return [_unmatched_json(row) for row in session.execute(q).scalars()]


def _unmatched_json(row: UnmatchedPaymentRow) -> dict[str, Any]:
    remaining = Decimal(row.amount) - Decimal(row.allocated_amount)
    return {"id": row.id, "amount": f"{remaining:.2f}", "reference": row.reference, "account": row.account,
            "reason": row.reason, "received": row.booking_date.isoformat(), "payer": row.payer_name,
            "status": row.status, "entry_id": row.entry_id}


def list_payments(session: Session, *, since: date | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Bank entries, newest first, with where their money went."""
    q = select(BankEntryRow).order_by(col(BankEntryRow.id).desc()).limit(limit)
    if since is not None:
        q = q.where(col(BankEntryRow.booking_date) >= since)
    return [{"id": e.id, "entry_ref": e.entry_ref, "account": e.account, "amount": e.amount,
             "booking_date": e.booking_date.isoformat(), "reference": e.reference, "payer": e.payer_name,
             "status": e.status, "entity": e.entity_id, "reversal_of": e.reversal_of_entry_id,
             "reversed_by": e.reversed_by_entry_id, "file_id": e.file_id}
            for e in session.execute(q).scalars()]


def payments_of_invoice(session: Session, invoice_id: int) -> list[dict[str, Any]]:
    """Every amount put on the invoice (bank, manual, reversals), in order."""
    rows = session.execute(select(PaymentAllocationRow).where(
        col(PaymentAllocationRow.invoice_id) == invoice_id, col(PaymentAllocationRow.kind) == "invoice",
    ).order_by(col(PaymentAllocationRow.id))).scalars()
    return [{"id": r.id, "amount": r.amount, "paid_on": r.paid_on.isoformat(), "source": r.source,
             "entry_id": r.entry_id, "unmatched_id": r.unmatched_id} for r in rows]


@dataclass(frozen=True)
class ManualAllocation:
    allocation_id: int
    invoice_id: int
    invoice_number: str
    amount: Decimal
    remaining: Decimal  # still unmatched on the queue item
    payment_status: str


def allocate_manually(session: Session, unmatched_id: int, invoice_number: str, amount: Decimal | None = None,
                      *, entity: str | None = None) -> ManualAllocation:
    """Put (part of) an unmatched payment on an invoice, in the caller's transaction. Without ``amount``: as
    much as both the payment's rest and the invoice's open amount allow."""
    item = session.get(UnmatchedPaymentRow, unmatched_id, with_for_update=True)
    if item is None:
        raise UnknownUnmatched(f"no unmatched payment {unmatched_id}; see `gateway payments unmatched`")
    remaining = Decimal(item.amount) - Decimal(item.allocated_amount)
    if item.status != "open" or remaining <= 0:
        raise AllocationRefused(f"unmatched payment {unmatched_id} has nothing left to allocate ({item.status})")
    entities = catalogue_entities(session)
    entity = entity or own_accounts(entities).get(item.account)
    q = select(InvoiceRow).where(col(InvoiceRow.number) == invoice_number.strip(), col(InvoiceRow.kind) == "invoice")
    if entity:
        q = q.where(col(InvoiceRow.entity_id) == entity)
    invoices = list(session.execute(q).scalars())
    if not invoices:
        raise PaymentInputError(f"no invoice {invoice_number}" + (f" of {entity}" if entity else ""))
    if len(invoices) > 1:
        raise PaymentInputError(f"invoice number {invoice_number} exists for several entities; give --entity")
    invoice = invoices[0]
    assert invoice.id is not None
    state = ledger.load_states(session, [invoice.id], lock=True)[invoice.id]
    wanted = min(remaining, state.open_amount) if amount is None else amount
    if wanted <= 0 and amount is None:
        raise AllocationRefused(f"invoice {invoice.number} has nothing open ({state.payment_status})")
    if wanted <= 0 or wanted != wanted.quantize(Decimal("0.01")):
        raise PaymentInputError(f"the amount must be positive whole cents (invoice {invoice.number} has "
                                f"{state.open_amount} € open, the payment {remaining} € left)")
    if wanted > remaining:
        raise AllocationRefused(f"unmatched payment {unmatched_id} has only {remaining} € left")
    if wanted > state.open_amount:
        raise AllocationRefused(f"invoice {invoice.number} has only {state.open_amount} € open")
    now = utcnow()
    row = PaymentAllocationRow(entry_id=item.entry_id, unmatched_id=item.id, kind="invoice", invoice_id=invoice.id,
                               customer_id=invoice.customer_id, entity_id=invoice.entity_id, amount=f"{wanted:.2f}",
                               paid_on=item.booking_date, source="manual", created_at=now)
    session.add(row)
    item.allocated_amount = f"{Decimal(item.allocated_amount) + wanted:.2f}"
    if Decimal(item.allocated_amount) >= Decimal(item.amount):
        item.status, item.resolved_at = "allocated", now
    session.flush()
    assert row.id is not None
    state.allocated += wanted
    ledger.write(session, [state])
    account = provider_account(entities.get(invoice.entity_id))
    if account is not None:
        request = ProviderRequestRow(
            kind="payment", identity=f"manual-{row.id}", account=account, invoice_id=invoice.id, status="queued",
            created_at=now, body={"amount": f"{wanted:.2f}", "paydate": item.booking_date.isoformat(),
                                  "identifier": f"manual-{row.id}", "type": "directpayment"})
        session.add(request)
        session.flush()
        assert request.id is not None
        PROVIDER_REQUEST.emit(session, {"request_id": request.id}, key=f"invoice:{invoice.id}")
    return ManualAllocation(row.id, invoice.id, invoice.number or "", wanted,
                            Decimal(item.amount) - Decimal(item.allocated_amount), state.payment_status)


def receivables_summary(session: Session) -> dict[str, Any]:
    """Counts and sums over invoices, payments, the unmatched queue, provider jobs, dunning and tasks."""
    invoices: dict[str, dict[str, Any]] = {}
    for status, total, paid in session.execute(select(col(InvoiceRow.payment_status), col(InvoiceRow.total),
                                                      col(InvoiceRow.paid_amount)).where(
            col(InvoiceRow.kind) == "invoice")):
        slot = invoices.setdefault(status, {"invoices": 0, "total": ZERO, "paid": ZERO})
        slot["invoices"] += 1
        slot["total"] += Decimal(total)
        slot["paid"] += Decimal(paid)
    unmatched = [(Decimal(a) - Decimal(b)) for a, b in session.execute(select(
        col(UnmatchedPaymentRow.amount), col(UnmatchedPaymentRow.allocated_amount)).where(
        col(UnmatchedPaymentRow.status) == "open"))]

    def counts(column: Any) -> dict[str, int]:
        return {str(k): int(v) for k, v in session.execute(select(column, func.count()).group_by(column))}

    return {
        "invoices": {k: {"invoices": v["invoices"], "total": f"{v['total']:.2f}", "paid": f"{v['paid']:.2f}"}
                     for k, v in sorted(invoices.items())},
        "bank_files": int(session.execute(select(func.count()).select_from(BankFileRow)).scalar_one()),
        "bank_entries": counts(col(BankEntryRow.status)),
        "unmatched": {"items": len(unmatched), "amount": f"{sum(unmatched, ZERO):.2f}"},
        "provider_jobs": counts(col(ProviderJobRow.provider_status)),
        "provider_requests": counts(col(ProviderRequestRow.status)),
        "dunning_steps": counts(col(DunningStepRow.kind)),
        "disconnection_tasks": counts(col(DisconnectionTaskRow.status)),
    }
