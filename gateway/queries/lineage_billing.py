"""Invoicing's steps of the lineage graph (`gateway.queries.lineage`).

Downstream, the way the data flowed: a rating result is billed as invoice lines (`billed_as`) that are on an
invoice (`on`), which was released as a document of the message log (`released_as`, `inv-N`); a billed line
may be credited by a credit note's line (`credited_by`); a correction too small for a credit note is carried
as an adjustment (`carried_as`) that a later invoice bills. Upstream, the same edges walked back: from an
invoice to its lines, from a line to its rating result (and on, through the rating's own steps, to the
metering versions, prices, master data, agreements and messages), to the line it credits or the adjustment it
bills.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.queries.lineage import (
    Edge,
    Node,
    _message_nodes,
    _rating_nodes,
    node_id,
    register_root,
    register_step,
)
from gateway.store.billing_tables import BillingAdjustmentRow, InvoiceLineRow, InvoiceRow

_DOCUMENT_TYPES = {"invoice": "INV01", "credit_note": "INV02"}
_CHUNK = 500


def _ids(keys: Sequence[str]) -> list[int]:
    return sorted({int(k) for k in keys if k.isdigit() and len(k) <= 18})


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield list(ids[i:i + _CHUNK])


@dataclass(frozen=True)
class _Head:
    """An invoice's summary columns: a graph node never loads the stored document and the Finvoice bytes."""

    id: int
    number: str | None
    entity_id: str
    kind: str
    total: str
    status: str
    payment_status: str
    invoice_date: date
    customer_id: int
    original_invoice_id: int | None
    released_at: datetime | None


def _invoice_node(row: _Head) -> Node:
    return Node(node_id("invoice", row.id), "invoice",
                f"{_DOCUMENT_TYPES.get(row.kind, row.kind)} {row.number or row.id} ({row.entity_id})", {
                    "number": row.number, "entity": row.entity_id, "kind": row.kind, "total": row.total,
                    "status": row.status, "payment_status": row.payment_status,
                    "invoice_date": row.invoice_date.isoformat(), "customer_id": row.customer_id,
                    "original_invoice_id": row.original_invoice_id, "message": f"inv-{row.id}"})


def _invoices(session: Session, ids: Sequence[int]) -> dict[int, _Head]:
    found: dict[int, _Head] = {}
    for chunk in _chunks(sorted(set(ids))):
        for row in session.execute(select(
                col(InvoiceRow.id), col(InvoiceRow.number), col(InvoiceRow.entity_id), col(InvoiceRow.kind),
                col(InvoiceRow.total), col(InvoiceRow.status), col(InvoiceRow.payment_status),
                col(InvoiceRow.invoice_date), col(InvoiceRow.customer_id), col(InvoiceRow.original_invoice_id),
                col(InvoiceRow.released_at)).where(col(InvoiceRow.id).in_(chunk))):
            head = _Head(*row)  # type: ignore[arg-type]
            found[int(head.id)] = head
    return found


def _line_node(row: InvoiceLineRow, number: str | None) -> Node:
    return Node(node_id("invoice_line", row.id), "invoice_line",
                f"{number or row.invoice_id} #{row.position} {row.description}", {
                    "invoice_id": row.invoice_id, "number": number, "position": row.position,
                    "description": row.description, "accounting_point": row.accounting_point,
                    "component": row.component, "period_start": row.period_start.isoformat() if row.period_start
                    else None, "period_end": row.period_end.isoformat() if row.period_end else None,
                    "quantity": row.quantity, "unit": row.unit, "unit_price": row.unit_price, "amount": row.amount,
                    "vat_rate": row.vat_rate, "flags": list(row.flags or ()),
                    "rating_result_id": row.rating_result_id, "rating_revision": row.rating_revision,
                    "priced_line_index": row.priced_line_index, "credits_line_id": row.credits_line_id,
                    "adjustment_id": row.adjustment_id})


def _lines_where(session: Session, column: Any, ids: Sequence[int]) -> list[InvoiceLineRow]:
    found: list[InvoiceLineRow] = []
    for chunk in _chunks(ids):
        found += session.execute(select(InvoiceLineRow).where(column.in_(chunk))
                                 .order_by(col(InvoiceLineRow.id))).scalars().all()
    return found


def _line_nodes(session: Session, lines: Sequence[InvoiceLineRow]) -> list[Node]:
    numbers = {pk: row.number for pk, row in _invoices(session, [ln.invoice_id for ln in lines]).items()}
    return [_line_node(ln, numbers.get(ln.invoice_id)) for ln in lines]


def _adjustment_node(row: BillingAdjustmentRow) -> Node:
    return Node(node_id("adjustment", row.id), "adjustment", f"{row.kind} {row.amount} €", {
        "kind": row.kind, "amount": row.amount, "vat_rate": row.vat_rate, "description": row.description,
        "source": row.source, "status": row.status, "rating_result_id": row.rating_result_id,
        "rating_revision": row.rating_revision, "consumed_by_invoice_id": row.consumed_by_invoice_id})


# -- roots ------------------------------------------------------------------------------------------------------
def invoice_nodes(session: Session, keys: Sequence[str]) -> list[Node]:
    return [_invoice_node(row) for row in _invoices(session, _ids(keys)).values()]


def invoice_line_nodes(session: Session, keys: Sequence[str]) -> list[Node]:
    return _line_nodes(session, _lines_where(session, col(InvoiceLineRow.id), _ids(keys)))


# -- downstream -------------------------------------------------------------------------------------------------
def _rating_to_lines(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    lines = _lines_where(session, col(InvoiceLineRow.rating_result_id), _ids(keys))
    nodes = _line_nodes(session, lines)
    edges = [Edge(node_id("rating_result", ln.rating_result_id), node_id("invoice_line", ln.id), "billed_as")
             for ln in lines]
    adjustments: list[BillingAdjustmentRow] = []
    for chunk in _chunks(_ids(keys)):
        adjustments += session.execute(select(BillingAdjustmentRow).where(
            col(BillingAdjustmentRow.rating_result_id).in_(chunk))).scalars().all()
    nodes += [_adjustment_node(a) for a in adjustments]
    edges += [Edge(node_id("rating_result", a.rating_result_id), node_id("adjustment", a.id), "carried_as")
              for a in adjustments]
    return nodes, edges


def _line_to_invoice_and_credits(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    ids = _ids(keys)
    lines = _lines_where(session, col(InvoiceLineRow.id), ids)
    invoices = _invoices(session, [ln.invoice_id for ln in lines])
    nodes = [_invoice_node(invoices[ln.invoice_id]) for ln in lines if ln.invoice_id in invoices]
    edges = [Edge(node_id("invoice_line", ln.id), node_id("invoice", ln.invoice_id), "on") for ln in lines]
    credits = _lines_where(session, col(InvoiceLineRow.credits_line_id), ids)
    nodes += _line_nodes(session, credits)
    edges += [Edge(node_id("invoice_line", c.credits_line_id), node_id("invoice_line", c.id), "credited_by")
              for c in credits]
    return nodes, edges


def _invoice_to_document(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    released = [pk for pk, row in _invoices(session, _ids(keys)).items() if row.released_at is not None]
    nodes = _message_nodes(session, [f"inv-{pk}" for pk in released])
    edges = [Edge(node_id("invoice", pk), node_id("message", f"inv-{pk}"), "released_as") for pk in released]
    return nodes, edges


def _adjustment_to_lines(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    lines = _lines_where(session, col(InvoiceLineRow.adjustment_id), _ids(keys))
    return _line_nodes(session, lines), [
        Edge(node_id("adjustment", ln.adjustment_id), node_id("invoice_line", ln.id), "billed_as") for ln in lines]


# -- upstream ---------------------------------------------------------------------------------------------------
def _invoice_to_lines(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    lines = _lines_where(session, col(InvoiceLineRow.invoice_id), _ids(keys))
    return _line_nodes(session, lines), [
        Edge(node_id("invoice_line", ln.id), node_id("invoice", ln.invoice_id), "on") for ln in lines]


def _line_sources(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    """What a line was made of: its rating result, the line it credits (and that line's invoice), or the
    adjustment it bills."""
    lines = _lines_where(session, col(InvoiceLineRow.id), _ids(keys))
    nodes = _rating_nodes(session, [str(ln.rating_result_id) for ln in lines if ln.rating_result_id is not None])
    edges = [Edge(node_id("rating_result", ln.rating_result_id), node_id("invoice_line", ln.id), "billed_as")
             for ln in lines if ln.rating_result_id is not None]
    credited = _lines_where(session, col(InvoiceLineRow.id),
                            sorted({ln.credits_line_id for ln in lines if ln.credits_line_id is not None}))
    nodes += _line_nodes(session, credited)
    edges += [Edge(node_id("invoice_line", ln.credits_line_id), node_id("invoice_line", ln.id), "credited_by")
              for ln in lines if ln.credits_line_id is not None]
    originals = _invoices(session, [c.invoice_id for c in credited])
    nodes += [_invoice_node(row) for row in originals.values()]
    edges += [Edge(node_id("invoice_line", c.id), node_id("invoice", c.invoice_id), "on") for c in credited]
    adjustment_ids = sorted({ln.adjustment_id for ln in lines if ln.adjustment_id is not None})
    for chunk in _chunks(adjustment_ids):
        for a in session.execute(select(BillingAdjustmentRow).where(
                col(BillingAdjustmentRow.id).in_(chunk))).scalars():
            nodes.append(_adjustment_node(a))
    edges += [Edge(node_id("adjustment", ln.adjustment_id), node_id("invoice_line", ln.id), "billed_as")
              for ln in lines if ln.adjustment_id is not None]
    return nodes, edges


def _adjustment_to_rating(session: Session, keys: Sequence[str]) -> tuple[list[Node], list[Edge]]:
    pairs: list[tuple[int, int]] = []
    for chunk in _chunks(_ids(keys)):
        pairs += [(int(a), int(r)) for a, r in session.execute(  # type: ignore[arg-type]
            select(col(BillingAdjustmentRow.id), col(BillingAdjustmentRow.rating_result_id)).where(
                col(BillingAdjustmentRow.id).in_(chunk), col(BillingAdjustmentRow.rating_result_id).is_not(None)))]
    nodes = _rating_nodes(session, sorted({str(r) for _, r in pairs}))
    return nodes, [Edge(node_id("rating_result", r), node_id("adjustment", a), "carried_as") for a, r in pairs]


register_root("invoice", invoice_nodes)
register_root("invoice_line", invoice_line_nodes)
register_step("rating_result", "downstream", _rating_to_lines)
register_step("invoice_line", "downstream", _line_to_invoice_and_credits)
register_step("invoice", "downstream", _invoice_to_document)
register_step("adjustment", "downstream", _adjustment_to_lines)
register_step("invoice", "upstream", _invoice_to_lines)
register_step("invoice_line", "upstream", _line_sources)
register_step("adjustment", "upstream", _adjustment_to_rating)
