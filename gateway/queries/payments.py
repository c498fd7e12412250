"""Read models of receivables for support staff and the billing core: payments (the entries of imported bank
files) with where their money went, the unmatched-payments queue, and an invoice's payments. Lists are
keyset-paged, newest first (by id: rows are appended in import order).

Writing (manual allocation) is `gateway.payments.service.allocate_manually`, the same function the CLI's
`gateway payments allocate` calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.core.reference import national_from_rf, parse_reference, rf_reference
from gateway.queries.pagination import BadQuery, Page, decode_cursor, encode_cursor
from gateway.store.billing_tables import InvoiceRow
from gateway.store.payments_tables import BankEntryRow, BankFileRow, PaymentAllocationRow, UnmatchedPaymentRow

PAYMENT_STATUSES: Final = ("allocated", "partly_unmatched", "unmatched", "reversed")
UNMATCHED_STATUSES: Final = ("open", "allocated", "reversed")


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def bank_file_message_id(file_id: int) -> str:
    """The bank file's entry in the message log (`gateway.queries.messages`: `bank-N`)."""
    return f"bank-{file_id}"


def _int_cursor(cursor: str | None) -> int | None:
    key = decode_cursor(cursor, 1)
    if key is None:
        return None
    if not isinstance(key[0], int) or isinstance(key[0], bool):
        raise BadQuery("cursor is not one this service issued")
    return key[0]


def _page(items: list[dict[str, Any]], limit: int) -> Page[dict[str, Any]]:
    more = len(items) > limit
    items = items[:limit]
    return Page(items, encode_cursor([items[-1]["id"]]) if more and items else None)


def reference_variants(text: str) -> list[str]:
    """A payment reference as a bank entry may carry it: national and RF form (spaces allowed, checked)."""
    compact = parse_reference(text)
    if compact is None:
        raise BadQuery(f"reference {text[:40]!r} is not a Finnish or RF reference (its check digits do not hold)")
    if compact.startswith("RF"):
        national = national_from_rf(compact)
        return [compact] + ([national] if national else [])
    return [compact, rf_reference(compact)]


# -- payments ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PaymentFilter:
    invoice_id: int | None = None  # put (in part) on this invoice
    reference: str | None = None
    status: str | None = None
    account: str | None = None
    entity: str | None = None
    since: date | None = None  # booking date, inclusive
    until: date | None = None  # booking date, inclusive

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in PAYMENT_STATUSES:
            raise BadQuery(f"status must be one of {', '.join(PAYMENT_STATUSES)}")
        if self.reference is not None:
            reference_variants(self.reference)
        if self.since and self.until and self.until < self.since:
            raise BadQuery("to must not be before from")


def payment_json(e: BankEntryRow) -> dict[str, Any]:
    return {
        "id": e.id, "file_id": e.file_id, "message": bank_file_message_id(e.file_id), "entry_ref": e.entry_ref,
        "format": e.format, "account": e.account, "entity": e.entity_id, "credit_debit": e.credit_debit,
        "reversal": bool(e.reversal), "amount": e.amount, "currency": e.currency,
        "booking_date": _iso(e.booking_date), "value_date": _iso(e.value_date), "payer": e.payer_name,
        "reference": e.reference, "status": e.status, "reversal_of": e.reversal_of_entry_id,
        "reversed_by": e.reversed_by_entry_id, "created_at": _iso(e.created_at),
    }


def list_payments(session: Session, f: PaymentFilter, *, limit: int, cursor: str | None = None
                  ) -> Page[dict[str, Any]]:
    after = _int_cursor(cursor)
    q = select(BankEntryRow)
    if after is not None:
        q = q.where(col(BankEntryRow.id) < after)
    if f.invoice_id is not None:
        q = q.where(col(BankEntryRow.id).in_(select(col(PaymentAllocationRow.entry_id)).where(
            col(PaymentAllocationRow.invoice_id) == f.invoice_id)))
    if f.reference:
        q = q.where(col(BankEntryRow.reference).in_(reference_variants(f.reference)))
    if f.status:
        q = q.where(col(BankEntryRow.status) == f.status)
    if f.account:
        q = q.where(col(BankEntryRow.account) == f.account.replace(" ", "").upper())
    if f.entity:
        q = q.where(col(BankEntryRow.entity_id) == f.entity)
    if f.since:
        q = q.where(col(BankEntryRow.booking_date) >= f.since)
    if f.until:
        q = q.where(col(BankEntryRow.booking_date) <= f.until)
    rows = session.execute(q.order_by(col(BankEntryRow.id).desc()).limit(limit + 1)).scalars().all()
    return _page([payment_json(e) for e in rows], limit)


def _numbers(session: Session, invoice_ids: Iterable[int | None]) -> dict[int, tuple[str | None, str]]:
    ids = sorted({i for i in invoice_ids if i is not None})
    if not ids:
        return {}
    return {int(pk or 0): (number, entity) for pk, number, entity in session.execute(
        select(col(InvoiceRow.id), col(InvoiceRow.number), col(InvoiceRow.entity_id)).where(
            col(InvoiceRow.id).in_(ids)))}


def allocation_json(a: PaymentAllocationRow, numbers: dict[int, tuple[str | None, str]]) -> dict[str, Any]:
    number = numbers.get(a.invoice_id or 0, (None, ""))[0]
    return {"id": a.id, "kind": a.kind, "invoice_id": a.invoice_id, "invoice_number": number,
            "customer_id": a.customer_id, "entity": a.entity_id, "amount": a.amount, "paid_on": _iso(a.paid_on),
            "source": a.source, "payment_id": a.entry_id, "unmatched_id": a.unmatched_id,
            "adjustment_id": a.adjustment_id, "created_at": _iso(a.created_at)}


def _allocations(session: Session, condition: Any) -> list[dict[str, Any]]:
    rows = session.execute(select(PaymentAllocationRow).where(condition)
                           .order_by(col(PaymentAllocationRow.id))).scalars().all()
    numbers = _numbers(session, [a.invoice_id for a in rows])
    return [allocation_json(a, numbers) for a in rows]


# A bank file's facts: never its bytes (`/api/messages/bank-N/raw` has them).
_FILE_COLUMNS: Final = (col(BankFileRow.id), col(BankFileRow.name), col(BankFileRow.format), col(BankFileRow.sha256),
                        col(BankFileRow.size), col(BankFileRow.imported_at), col(BankFileRow.entries),
                        col(BankFileRow.allocated), col(BankFileRow.unmatched), col(BankFileRow.already_imported))


def _bank_file(session: Session, file_id: int) -> dict[str, Any] | None:
    row = session.execute(select(*_FILE_COLUMNS).where(col(BankFileRow.id) == file_id)).first()
    if row is None:
        return None
    pk, name, fmt, sha256, size, imported_at, entries, allocated, unmatched_, already = row
    pk = int(pk or 0)
    return {"id": pk, "message": bank_file_message_id(pk), "name": name, "format": fmt, "sha256": sha256,
            "size": int(size), "imported_at": _iso(imported_at), "entries": entries, "allocated": allocated,
            "unmatched": unmatched_, "already_imported": already}


def payment(session: Session, payment_id: int) -> dict[str, Any] | None:
    """One payment (bank entry): where its money went (allocations, the unmatched queue), the bank file it came
    in, and the entry it reverses or that reverses it."""
    e = session.get(BankEntryRow, payment_id)
    if e is None:
        return None
    unmatched = session.execute(select(UnmatchedPaymentRow).where(col(UnmatchedPaymentRow.entry_id) == payment_id)
                                .order_by(col(UnmatchedPaymentRow.id))).scalars().all()
    return payment_json(e) | {
        "allocations": _allocations(session, col(PaymentAllocationRow.entry_id) == payment_id),
        "unmatched": [unmatched_json(u) for u in unmatched],
        "bank_file": _bank_file(session, e.file_id),
        "decision": e.decision,
    }


# -- the unmatched queue ----------------------------------------------------------------------------------------
def unmatched_json(u: UnmatchedPaymentRow) -> dict[str, Any]:
    remaining = Decimal(u.amount) - Decimal(u.allocated_amount)
    return {"id": u.id, "payment_id": u.entry_id, "amount": u.amount, "allocated_amount": u.allocated_amount,
            "remaining": f"{remaining:.2f}", "reference": u.reference, "account": u.account, "reason": u.reason,
            "status": u.status, "booking_date": _iso(u.booking_date), "payer": u.payer_name,
            "created_at": _iso(u.created_at), "resolved_at": _iso(u.resolved_at)}


def list_unmatched(session: Session, *, limit: int, cursor: str | None = None, status: str | None = None
                   ) -> Page[dict[str, Any]]:
    if status is not None and status not in UNMATCHED_STATUSES:
        raise BadQuery(f"status must be one of {', '.join(UNMATCHED_STATUSES)}")
    after = _int_cursor(cursor)
    q = select(UnmatchedPaymentRow)
    if status:
        q = q.where(col(UnmatchedPaymentRow.status) == status)
    if after is not None:
        q = q.where(col(UnmatchedPaymentRow.id) < after)
    rows = session.execute(q.order_by(col(UnmatchedPaymentRow.id).desc()).limit(limit + 1)).scalars().all()
    return _page([unmatched_json(u) for u in rows], limit)


def unmatched(session: Session, unmatched_id: int) -> dict[str, Any] | None:
    """One item of the queue: the payment it came from, its bank file, and what was allocated from it."""
    u = session.get(UnmatchedPaymentRow, unmatched_id)
    if u is None:
        return None
    entry = session.get(BankEntryRow, u.entry_id)
    return unmatched_json(u) | {
        "payment": None if entry is None else payment_json(entry),
        "bank_file": None if entry is None else _bank_file(session, entry.file_id),
        "allocations": _allocations(session, col(PaymentAllocationRow.unmatched_id) == unmatched_id),
        "message": None if entry is None else bank_file_message_id(entry.file_id),
    }


# -- an invoice's payments --------------------------------------------------------------------------------------
def payments_of_invoice(session: Session, invoice_id: int) -> list[dict[str, Any]]:
    """Every amount put on the invoice (bank, manual, reversals), oldest first, each with the bank file it
    came in."""
    found = _allocations(session, col(PaymentAllocationRow.invoice_id) == invoice_id)
    entries = sorted({a["payment_id"] for a in found if a["payment_id"] is not None})
    files = {int(pk or 0): int(file_id) for pk, file_id in session.execute(
        select(col(BankEntryRow.id), col(BankEntryRow.file_id)).where(col(BankEntryRow.id).in_(entries)))} \
        if entries else {}
    return [a | {"message": bank_file_message_id(files[a["payment_id"]]) if a["payment_id"] in files else None}
            for a in found]
