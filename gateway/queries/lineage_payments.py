"""Receivables' steps of the lineage graph (`gateway.queries.lineage`).

Money flows from the bank into invoices, and the edges point that way: a bank file (`message:bank-N`) carries
payments (`payment`: one bank entry), a payment is allocated as allocations (`allocation`: an amount put on an
invoice, or parked as the customer's credit), and an allocation settles an invoice. So a bank file's
downstream lineage reaches the invoices it paid (and their released documents), and an invoice's upstream
lineage — besides its lines and what they were rated from — reaches the allocations, the payments and the
bank files they came in. A manual allocation of an unmatched payment keeps the payment it came from.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.queries.lineage import Edge, Node, _message_nodes, node_id, register_root, register_step
from gateway.queries.lineage_billing import _chunks, _ids, _invoice_node, _invoices
from gateway.queries.messages import BANK_FILE, MessageRef
from gateway.store.payments_tables import BankEntryRow, PaymentAllocationRow


def _payment_node(e: BankEntryRow) -> Node:
    return Node(node_id("payment", e.id), "payment", f"{e.amount} € {e.booking_date:%d.%m.%Y} {e.reference or ''}"
                .strip(), {"entry_ref": e.entry_ref, "account": e.account, "amount": e.amount,
                           "booking_date": e.booking_date.isoformat(), "reference": e.reference, "status": e.status,
                           "payer": e.payer_name, "reversal": bool(e.reversal), "message": f"bank-{e.file_id}"})


def _allocation_node(a: PaymentAllocationRow) -> Node:
    target = f"invoice {a.invoice_id}" if a.kind == "invoice" else "credit"
    return Node(node_id("allocation", a.id), "allocation", f"{a.amount} € → {target} ({a.source})", {
        "kind": a.kind, "amount": a.amount, "paid_on": a.paid_on.isoformat(), "source": a.source,
        "invoice_id": a.invoice_id, "customer_id": a.customer_id, "payment_id": a.entry_id,
        "unmatched_id": a.unmatched_id, "adjustment_id": a.adjustment_id})


def _entries_where(session: Session, column: object, ids: Sequence[int]) -> list[BankEntryRow]:
    found: list[BankEntryRow] = []
    for chunk in _chunks(ids):
        found += session.execute(select(BankEntryRow).where(column.in_(chunk))  # type: ignore[attr-defined]
                                 .order_by(col(BankEntryRow.id))).scalars().all()
    return found


def _allocations_where(session: Session, column: object, ids: Sequence[int]) -> list[PaymentAllocationRow]:
    found: list[PaymentAllocationRow] = []
    for chunk in _chunks(ids):
        found += session.execute(select(PaymentAllocationRow).where(column.in_(chunk))  # type: ignore[attr-defined]
                                 .order_by(col(PaymentAllocationRow.id))).scalars().all()
    return found


def _bank_file_ids(keys: Sequence[str]) -> list[int]:
    found = []
    for key in keys:
        try:
            ref = MessageRef.parse(key)
        except LookupError:
            continue
        if ref.kind == BANK_FILE:
            found.append(ref.pk)
    return sorted(set(found))


# -- roots ------------------------------------------------------------------------------------------------------
def payment_nodes(session: Session, keys: Sequence[str]) -> list[Node]:
    return [_payment_node(e) for e in _entries_where(session, col(BankEntryRow.id), _ids(keys))]


# -- downstream -------------------------------------------------------------------------------------------------
def _bank_file_to_payments(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    entries = _entries_where(session, col(BankEntryRow.file_id), _bank_file_ids(keys))
    return [_payment_node(e) for e in entries], [
        Edge(node_id("message", f"bank-{e.file_id}"), node_id("payment", e.id), "carries") for e in entries]


def _payment_to_allocations(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    allocations = _allocations_where(session, col(PaymentAllocationRow.entry_id), _ids(keys))
    return [_allocation_node(a) for a in allocations], [
        Edge(node_id("payment", a.entry_id), node_id("allocation", a.id), "allocated_as") for a in allocations]


def _allocation_to_invoice(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    allocations = [a for a in _allocations_where(session, col(PaymentAllocationRow.id), _ids(keys))
                   if a.invoice_id is not None]
    heads = _invoices(session, [int(a.invoice_id or 0) for a in allocations])
    return [_invoice_node(h) for h in heads.values()], [
        Edge(node_id("allocation", a.id), node_id("invoice", a.invoice_id), "settles") for a in allocations]


# -- upstream ---------------------------------------------------------------------------------------------------
def _invoice_to_allocations(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    allocations = _allocations_where(session, col(PaymentAllocationRow.invoice_id), _ids(keys))
    return [_allocation_node(a) for a in allocations], [
        Edge(node_id("allocation", a.id), node_id("invoice", a.invoice_id), "settles") for a in allocations]


def _allocation_to_payment(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    allocations = [a for a in _allocations_where(session, col(PaymentAllocationRow.id), _ids(keys))
                   if a.entry_id is not None]
    entries = _entries_where(session, col(BankEntryRow.id), sorted({int(a.entry_id or 0) for a in allocations}))
    return [_payment_node(e) for e in entries], [
        Edge(node_id("payment", a.entry_id), node_id("allocation", a.id), "allocated_as") for a in allocations]


def _payment_to_bank_file(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    entries = _entries_where(session, col(BankEntryRow.id), _ids(keys))
    nodes = _message_nodes(session, sorted({f"bank-{e.file_id}" for e in entries}))
    return nodes, [Edge(node_id("message", f"bank-{e.file_id}"), node_id("payment", e.id), "carries")
                   for e in entries]


register_root("payment", payment_nodes)
register_step("message", "downstream", _bank_file_to_payments)
register_step("payment", "downstream", _payment_to_allocations)
register_step("allocation", "downstream", _allocation_to_invoice)
register_step("invoice", "upstream", _invoice_to_allocations)
register_step("allocation", "upstream", _allocation_to_payment)
register_step("payment", "upstream", _payment_to_bank_file)
