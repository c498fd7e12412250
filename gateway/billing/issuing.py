"""Issuing: the gapless number, the validated Finvoice, the stored invoice and its release, in one transaction.

The number series of an entity is one row (``invoice_series``). Issuing locks it for the rest of the caller's
transaction — ``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite every write transaction already holds the
database's write lock (``BEGIN IMMEDIATE``) — draws the next numbers, and stores the invoices, their lines,
what they billed (``billed_period``, unique per entity, accounting point, customer and period), the consumed
adjustments and one outbox event per document. A number is drawn only when its invoice is stored in the same
transaction: a rollback (a crash, a lost race on ``billed_period``) returns the numbers with everything else,
so the series never has a gap and a period is never billed twice. A document whose Finvoice the XSD refuses
is not issued at all and takes no number.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.core.compose import issue
from gateway.billing.core.finvoice import FinvoiceInvalid, validated_finvoice
from gateway.billing.core.model import Document, DocumentKind
from gateway.billing.core.numbers import NumberSeries
from gateway.billing.core.serialize import document_to_json
from gateway.events import CREDIT_NOTE_RELEASED, INVOICE_RELEASED, DocumentReleased
from gateway.rating.core.catalogue import LegalEntity
from gateway.store.billing_tables import (
    BilledPeriodRow,
    BillingAdjustmentRow,
    InvoiceLineRow,
    InvoiceRow,
    InvoiceSeriesRow,
)
from gateway.store.queries import insert_rows, insert_rows_returning_ids
from outbox.types import utcnow

ISSUED = "issued"
UNPAID = "unpaid"


@dataclass(frozen=True)
class BilledUnit:
    """One rated period a document bills for a customer (becomes a ``billed_period`` row)."""

    accounting_point: str
    period_start: date
    period_end: date
    rating_result_id: int
    revision: int


@dataclass
class Draft:
    """A composed, not yet numbered document and what issuing it settles."""

    entity: LegalEntity
    doc: Document
    customer_id: int
    billed: Sequence[BilledUnit] = ()
    adjustment_ids: Sequence[int] = ()
    original_invoice_id: int | None = None
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Issued:
    invoice_id: int
    entity: str
    kind: str
    number: str
    customer_id: int
    total: Decimal
    due_date: date
    reference: str
    label: str = ""


class AdjustmentsTaken(RuntimeError):
    """Another transaction consumed an adjustment this draft wanted: compose again."""


def lock_series(session: Session, entity: LegalEntity) -> InvoiceSeriesRow:
    """The entity's series row, created on first use and locked for the rest of the transaction."""
    terms = entity.invoicing
    if terms is None:
        raise ValueError(f"legal entity {entity.id} has no invoicing terms")
    values = {"entity_id": entity.id, "prefix": terms.number_prefix, "width": terms.number_width,
              "next_sequence": 1, "updated_at": utcnow()}
    dialect = session.get_bind().dialect.name
    table = InvoiceSeriesRow.__table__  # type: ignore[attr-defined]
    if dialect == "postgresql":
        session.execute(postgresql.insert(table).values(values).on_conflict_do_nothing())
    else:
        session.execute(sqlite.insert(table).values(values).on_conflict_do_nothing())
    row = session.get(InvoiceSeriesRow, entity.id, with_for_update=True, populate_existing=True)
    assert row is not None
    if (row.prefix, row.width) != (terms.number_prefix, terms.number_width):
        # A new series in the catalogue starts from 1; numbers stay unique per entity (uq_invoice_entity_number).
        row.prefix, row.width, row.next_sequence = terms.number_prefix, terms.number_width, 1
    return row


def release_payload(row: dict[str, Any], entity: LegalEntity, doc: Document) -> DocumentReleased:
    provider = entity.payment_provider
    return {
        "invoice_id": row["id"], "kind": row["kind"], "entity": row["entity_id"], "number": row["number"],
        "reference": row["reference"], "reference_rf": row["reference_rf"],
        "payment_reference": doc.payment_reference or row["reference"],
        "total_excl_vat": row["total_excl_vat"], "total_vat": row["total_vat"], "total": row["total"],
        "currency": "EUR", "invoice_date": row["invoice_date"].isoformat(), "due_date": row["due_date"].isoformat(),
        "customer_id": row["customer_id"], "customer_type": row["customer_type"], "channel": row["channel"],
        "provider_account": provider.account if provider else None,
        "provider_mode": provider.mode.value if provider else None,
        "original_invoice_id": row["original_invoice_id"], "final": row["final"],
    }


def _line_rows(invoice_id: int, doc: Document) -> list[dict[str, Any]]:
    rows = []
    for position, line in enumerate(doc.lines, start=1):
        source = line.source
        rows.append({
            "invoice_id": invoice_id, "position": position, "description": line.description[:200],
            "accounting_point": line.accounting_point, "product_code": line.product_code,
            "component": line.component, "period_start": line.period_start, "period_end": line.period_end,
            "quantity": None if line.quantity is None else str(line.quantity), "unit": line.unit,
            "unit_price": None if line.unit_price is None else str(line.unit_price), "amount": str(line.amount),
            "vat_rate": str(line.vat_rate), "vat_kind": line.vat_kind, "tax_class": line.tax_class,
            "flags": list(line.flags), "rating_result_id": source.get("rating_result_id"),
            "rating_revision": source.get("revision"), "priced_line_index": source.get("line_index"),
            "adjustment_id": source.get("adjustment_id"), "credits_line_id": source.get("credits_line_id"),
        })
    return rows


def issue_drafts(
    session: Session, entity: LegalEntity, drafts: Sequence[Draft], *, now: datetime | None = None,
    run_id: int | None = None,
) -> tuple[list[Issued], list[tuple[Draft, str]]]:
    """Issue ``drafts`` of one entity in the caller's transaction: (issued, refused with the reason).

    Raises ``IntegrityError`` when another transaction billed one of the periods first and
    ``AdjustmentsTaken`` when it consumed an adjustment: the caller rolls back and retries one by one.
    """
    now = now or utcnow()
    series = lock_series(session, entity)
    numbers = NumberSeries(series.prefix, series.width)
    issued: list[Issued] = []
    refused: list[tuple[Draft, str]] = []
    stored: list[tuple[Draft, dict[str, Any], Document]] = []
    for draft in drafts:
        number = numbers.number(series.next_sequence)
        doc = issue(draft.doc, number, sending_date=draft.doc.invoice_date)
        try:
            xml = validated_finvoice(doc, timestamp=now)
        except FinvoiceInvalid as error:
            refused.append((draft, str(error)))
            continue
        series.next_sequence += 1
        assert doc.due_date is not None and doc.reference is not None and doc.reference_rf is not None
        stored.append((draft, {
            "entity_id": entity.id, "kind": doc.kind.value, "number": number, "sequence": series.next_sequence - 1,
            "status": ISSUED, "payment_status": UNPAID, "customer_id": draft.customer_id,
            "customer_type": doc.buyer.customer_type.value, "channel": doc.buyer.channel,
            "period_start": doc.period_start, "period_end": doc.period_end, "invoice_date": doc.invoice_date,
            "due_date": doc.due_date, "reference": doc.reference, "reference_rf": doc.reference_rf, "currency": "EUR",
            "total_excl_vat": str(doc.total_excl_vat), "total_vat": str(doc.total_vat), "total": str(doc.total),
            "paid_amount": "0.00", "original_invoice_id": draft.original_invoice_id, "final": doc.final,
            "reason": str(doc.reason)[:1000] if doc.reason else None, "barcode": doc.barcode,
            "document": document_to_json(doc), "finvoice": xml, "finvoice_sha256": hashlib.sha256(xml).hexdigest(),
            "run_id": run_id, "created_at": now, "issued_at": now, "released_at": now, "sent_at": None,
        }, doc))
    if not stored:
        return issued, refused
    series.updated_at = now
    session.flush()
    ids = insert_rows_returning_ids(session, InvoiceRow.__table__,  # type: ignore[attr-defined]
                                    [row for _, row, _ in stored])
    lines: list[dict[str, Any]] = []
    billed: list[dict[str, Any]] = []
    for (draft, row, doc), invoice_id in zip(stored, ids, strict=True):
        row["id"] = invoice_id
        lines += _line_rows(invoice_id, doc)
        billed += [{"entity_id": entity.id, "accounting_point": u.accounting_point, "customer_id": draft.customer_id,
                    "period_start": u.period_start, "period_end": u.period_end, "invoice_id": invoice_id,
                    "rating_result_id": u.rating_result_id, "rating_revision": u.revision, "created_at": now,
                    "updated_at": now} for u in draft.billed]
        if draft.adjustment_ids:
            taken = session.execute(
                update(BillingAdjustmentRow)
                .where(col(BillingAdjustmentRow.id).in_(list(draft.adjustment_ids)),
                       col(BillingAdjustmentRow.status) == "pending")
                .values(status="consumed", consumed_by_invoice_id=invoice_id)
            ).rowcount  # type: ignore[attr-defined]
            if taken != len(draft.adjustment_ids):
                raise AdjustmentsTaken(f"an adjustment of customer {draft.customer_id} was consumed meanwhile")
        issued.append(Issued(invoice_id, entity.id, row["kind"], row["number"], draft.customer_id, doc.total,
                             row["due_date"], doc.payment_reference or row["reference"], draft.label))
    insert_rows(session, InvoiceLineRow.__table__, lines)  # type: ignore[attr-defined]
    # IntegrityError (uq_billed_period) when another transaction billed one of these periods first.
    insert_rows(session, BilledPeriodRow.__table__, billed)  # type: ignore[attr-defined]
    # The payment-provider integration sends each released document on (gateway.payments.provider_calls).
    released = {kind: [(release_payload(row, entity, doc), f"{entity.id}:{row['number']}")
                       for _, row, doc in stored if row["kind"] == kind.value] for kind in DocumentKind}
    if released[DocumentKind.INVOICE]:
        INVOICE_RELEASED.emit_many(session, released[DocumentKind.INVOICE])
    if released[DocumentKind.CREDIT_NOTE]:
        CREDIT_NOTE_RELEASED.emit_many(session, released[DocumentKind.CREDIT_NOTE])
    return issued, refused
