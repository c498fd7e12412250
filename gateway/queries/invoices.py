"""Read models of invoicing for support staff and the billing core: invoices and credit notes (one list, a
credit note is an invoice of kind `credit_note` linked both ways to what it credits), their documents,
billing runs and the customers they are billed to. Lists are keyset-paged, newest first.

Nothing here changes an invoice: issued invoices are immutable (docs/invoicing.md), and the documents are the
stored Finvoice bytes as released and the PDF rendered from the stored document data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.core.reference import national_from_rf, parse_reference
from gateway.billing.service import PAYMENT_STATUSES, STATUSES
from gateway.queries.pagination import BadQuery, Page, decode_cursor, encode_cursor
from gateway.queries.payments import payments_of_invoice
from gateway.rating.core.calendar import first_of_next_month
from gateway.store.billing_tables import (
    BilledPeriodRow,
    BillingCustomerRow,
    BillingRunRow,
    InvoiceLineRow,
    InvoiceRow,
)
from gateway.store.tables import CustomerRow

KINDS: Final = ("invoice", "credit_note")
DOCUMENT_TYPES: Final = {"invoice": "INV01", "credit_note": "INV02"}  # Finvoice InvoiceTypeCode
DATAHUB_KEY_PREFIX: Final = "datahub:"  # gateway.billing.customers: a Datahub customer's billing key


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def message_log_id(invoice_id: int) -> str:
    """The invoice's entry in the message log (`gateway.queries.messages`: released documents, outbound)."""
    return f"inv-{invoice_id}"


# The columns of a list item: never the stored document or the Finvoice bytes.
_SUMMARY: Final = (
    col(InvoiceRow.id), col(InvoiceRow.entity_id), col(InvoiceRow.kind), col(InvoiceRow.number),
    col(InvoiceRow.customer_id), col(InvoiceRow.customer_type), col(InvoiceRow.channel),
    col(InvoiceRow.period_start), col(InvoiceRow.period_end), col(InvoiceRow.invoice_date), col(InvoiceRow.due_date),
    col(InvoiceRow.reference), col(InvoiceRow.reference_rf), col(InvoiceRow.currency),
    col(InvoiceRow.total_excl_vat), col(InvoiceRow.total_vat), col(InvoiceRow.total), col(InvoiceRow.paid_amount),
    col(InvoiceRow.status), col(InvoiceRow.payment_status), col(InvoiceRow.original_invoice_id),
    col(InvoiceRow.final), col(InvoiceRow.run_id), col(InvoiceRow.issued_at), col(InvoiceRow.released_at),
    col(InvoiceRow.sent_at), col(BillingCustomerRow.name),
)


def _summary_query() -> Any:
    return select(*_SUMMARY).outerjoin(BillingCustomerRow,
                                       col(BillingCustomerRow.id) == col(InvoiceRow.customer_id))


def _summary(row: Any) -> dict[str, Any]:
    (pk, entity, kind, number, customer_id, customer_type, channel, period_start, period_end, invoice_date,
     due_date, reference, reference_rf, currency, excl, vat, total, paid, status, payment_status, original, final,
     run_id, issued_at, released_at, sent_at, customer_name) = row
    return {
        "id": int(pk), "entity": entity, "kind": kind, "document_type": DOCUMENT_TYPES.get(kind, kind),
        "number": number, "customer_id": int(customer_id), "customer_name": customer_name,
        "customer_type": customer_type, "channel": channel, "period_start": _iso(period_start),
        "period_end": _iso(period_end), "invoice_date": _iso(invoice_date), "due_date": _iso(due_date),
        "reference": reference, "reference_rf": reference_rf, "currency": currency, "total_excl_vat": excl,
        "total_vat": vat, "total": total, "paid_amount": paid, "status": status, "payment_status": payment_status,
        "original_invoice_id": None if original is None else int(original), "final": bool(final),
        "run_id": None if run_id is None else int(run_id), "issued_at": _iso(issued_at),
        "released_at": _iso(released_at), "sent_at": _iso(sent_at), "message": message_log_id(int(pk)),
    }


@dataclass(frozen=True)
class InvoiceFilter:
    customer_id: int | None = None
    entity: str | None = None
    period: date | None = None  # the first day of a month: invoices whose period starts in it
    status: str | None = None
    payment_status: str | None = None
    number: str | None = None
    reference: str | None = None  # national or RF, spaces allowed
    kind: str | None = None
    accounting_point: str | None = None
    customer_name: str | None = None  # contains, case-insensitive (the pages' search)
    run_id: int | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise BadQuery(f"status must be one of {', '.join(STATUSES)}")
        if self.payment_status is not None and self.payment_status not in PAYMENT_STATUSES:
            raise BadQuery(f"payment_status must be one of {', '.join(PAYMENT_STATUSES)}")
        if self.kind is not None and self.kind not in KINDS:
            raise BadQuery(f"kind must be one of {', '.join(KINDS)}")
        if self.reference is not None and parse_reference(self.reference) is None:
            raise BadQuery(f"reference {self.reference[:40]!r} is not a Finnish or RF reference (its check digits "
                           "do not hold)")


def parse_month(text: str | None) -> date | None:
    if not text:
        return None
    try:
        year, month = text.split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise BadQuery(f"period {text[:20]!r} is not a month YYYY-MM") from None


def _reference_condition(reference: str) -> Any:
    compact = parse_reference(reference)
    assert compact is not None  # checked by InvoiceFilter
    if compact.startswith("RF"):
        national = national_from_rf(compact)
        return col(InvoiceRow.reference) == national if national else col(InvoiceRow.reference_rf) == compact
    return col(InvoiceRow.reference) == compact


def _conditions(f: InvoiceFilter) -> list[Any]:
    found: list[Any] = []
    if f.customer_id is not None:
        found.append(col(InvoiceRow.customer_id) == f.customer_id)
    if f.entity:
        found.append(col(InvoiceRow.entity_id) == f.entity)
    if f.period is not None:
        found += [col(InvoiceRow.period_start) >= f.period,
                  col(InvoiceRow.period_start) < first_of_next_month(f.period)]
    if f.status:
        found.append(col(InvoiceRow.status) == f.status)
    if f.payment_status:
        found.append(col(InvoiceRow.payment_status) == f.payment_status)
    if f.number:
        found.append(col(InvoiceRow.number) == f.number.strip())
    if f.reference:
        found.append(_reference_condition(f.reference))
    if f.kind:
        found.append(col(InvoiceRow.kind) == f.kind)
    if f.run_id is not None:
        found.append(col(InvoiceRow.run_id) == f.run_id)
    if f.accounting_point:
        found.append(col(InvoiceRow.id).in_(select(col(InvoiceLineRow.invoice_id)).where(
            col(InvoiceLineRow.accounting_point) == f.accounting_point)))
    if f.customer_name:
        found.append(func.lower(col(BillingCustomerRow.name)).contains(f.customer_name.lower(), autoescape=True))
    return found


def _int_cursor(cursor: str | None) -> int | None:
    key = decode_cursor(cursor, 1)
    if key is None:
        return None
    if not isinstance(key[0], int):
        raise BadQuery("cursor is not one this service issued")
    return key[0]


def list_invoices(session: Session, f: InvoiceFilter, *, limit: int, cursor: str | None = None
                  ) -> Page[dict[str, Any]]:
    """Invoices and credit notes, newest first (by id: numbers are drawn in issue order within an entity)."""
    after = _int_cursor(cursor)
    q = _summary_query().where(*_conditions(f)).order_by(col(InvoiceRow.id).desc()).limit(limit + 1)
    if after is not None:
        q = q.where(col(InvoiceRow.id) < after)
    rows = [_summary(r) for r in session.execute(q)]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor([rows[-1]["id"]]) if more and rows else None)


def invoice_summary(session: Session, invoice_id: int) -> dict[str, Any] | None:
    row = session.execute(_summary_query().where(col(InvoiceRow.id) == invoice_id)).first()
    return None if row is None else _summary(row)


def line_json(row: InvoiceLineRow) -> dict[str, Any]:
    return {
        "id": row.id, "invoice_id": row.invoice_id, "position": row.position, "description": row.description,
        "accounting_point": row.accounting_point, "product_code": row.product_code, "component": row.component,
        "period_start": _iso(row.period_start), "period_end": _iso(row.period_end), "quantity": row.quantity,
        "unit": row.unit, "unit_price": row.unit_price, "amount": row.amount, "vat_rate": row.vat_rate,
        "vat_kind": row.vat_kind, "tax_class": row.tax_class, "flags": list(row.flags or ()),
        "rating_result_id": row.rating_result_id, "rating_revision": row.rating_revision,
        "priced_line_index": row.priced_line_index, "adjustment_id": row.adjustment_id,
        "credits_line_id": row.credits_line_id,
    }


def invoice_lines(session: Session, invoice_id: int) -> list[InvoiceLineRow]:
    return list(session.execute(select(InvoiceLineRow).where(col(InvoiceLineRow.invoice_id) == invoice_id)
                                .order_by(col(InvoiceLineRow.position))).scalars())


def _related(session: Session, row: InvoiceRow) -> dict[str, Any]:
    """Links both ways: what this document credits or corrects, and what credits or corrects it."""
    assert row.id is not None
    linked = [_summary(r) for r in session.execute(
        _summary_query().where(col(InvoiceRow.original_invoice_id) == row.id).order_by(col(InvoiceRow.id)))]
    original = invoice_summary(session, row.original_invoice_id) if row.original_invoice_id else None
    return {
        "original_invoice": None if original is None else _link(original),
        "credit_notes": [_link(s) for s in linked if s["kind"] == "credit_note"],
        "corrected_by": [_link(s) for s in linked if s["kind"] == "invoice"],
    }


def _link(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: summary[k] for k in ("id", "kind", "document_type", "entity", "number", "total", "invoice_date",
                                    "status", "payment_status")}


def invoice(session: Session, invoice_id: int) -> dict[str, Any] | None:
    """One invoice or credit note: the summary, the parties as printed, its lines with their sources, the VAT
    summary, electricity tax, consumption, contracts, the correction reason, the linked documents and the payments
    put on it (allocations, each with the bank file it came in)."""
    row = session.get(InvoiceRow, invoice_id)
    if row is None:
        return None
    summary = invoice_summary(session, invoice_id)
    assert summary is not None
    doc = row.document
    lines = invoice_lines(session, invoice_id)
    credited_by: dict[int, list[int]] = {}
    ids = [ln.id for ln in lines if ln.id is not None]
    if ids:
        for line_id, credit_id in session.execute(
                select(col(InvoiceLineRow.credits_line_id), col(InvoiceLineRow.id))
                .where(col(InvoiceLineRow.credits_line_id).in_(ids))):
            credited_by.setdefault(int(line_id), []).append(int(credit_id))  # type: ignore[arg-type]
    billed = session.execute(select(BilledPeriodRow).where(col(BilledPeriodRow.invoice_id) == invoice_id)
                             .order_by(col(BilledPeriodRow.id))).scalars().all()
    seller = doc.get("seller", {})
    return summary | _related(session, row) | {
        "seller": {k: seller.get(k) for k in ("entity_id", "name", "business_id", "vat_number", "iban", "bic",
                                              "address", "phone", "email", "web")},
        "buyer": doc.get("buyer", {}),
        "lines": [line_json(ln) | {"credited_by_line_ids": credited_by.get(ln.id or 0, [])} for ln in lines],
        "vat": doc.get("vat", []),
        "totals": doc.get("totals", {}),
        "electricity_tax": doc.get("electricity_tax"),
        "consumption": doc.get("consumption", []),
        "contracts": doc.get("contracts", []),
        "reason": row.reason,
        "barcode": row.barcode,
        "payment_reference": row.reference_rf if doc.get("reference_scheme") == "rf" else row.reference,
        "billed_periods": [{"accounting_point": b.accounting_point, "period_start": _iso(b.period_start),
                            "period_end": _iso(b.period_end), "rating_result_id": b.rating_result_id,
                            "rating_revision": b.rating_revision} for b in billed],
        "finvoice_sha256": row.finvoice_sha256,
        "payments": payments_of_invoice(session, invoice_id),
        "documents": {"finvoice": f"/api/invoices/{invoice_id}/finvoice", "pdf": f"/api/invoices/{invoice_id}/pdf"},
    }


# -- documents --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InvoiceDocument:
    data: bytes
    media_type: str
    filename: str


def invoice_document(session: Session, invoice_id: int, fmt: str) -> InvoiceDocument | None:
    """The Finvoice as released (`finvoice`) or the PDF rendered from the stored document (`pdf`)."""
    from gateway.billing.export import render

    row = session.get(InvoiceRow, invoice_id)
    if row is None:
        return None
    name = f"{row.entity_id}-{row.number or row.id}"
    if fmt == "finvoice":
        return InvoiceDocument(bytes(row.finvoice), "application/xml", f"{name}.xml")
    if fmt == "pdf":
        return InvoiceDocument(render(row, "pdf"), "application/pdf", f"{name}.pdf")
    raise ValueError(f"unknown document format {fmt!r}")


# -- billing runs -----------------------------------------------------------------------------------------------
def _run_json(row: BillingRunRow, *, report: bool = False) -> dict[str, Any]:
    data = row.report or {}
    summary = data.get("summary", {})
    item: dict[str, Any] = {
        "id": row.id, "period": row.period, "entity": row.entity_id, "dry_run": row.dry_run, "status": row.status,
        "started_at": _iso(row.started_at), "finished_at": _iso(row.finished_at),
        "invoices": sum(int(s.get("invoices", 0)) for s in summary.values()),
        "held": len(data.get("held", [])), "summary": summary,
    }
    if report:
        item["report"] = data
    return item


def list_billing_runs(session: Session, *, limit: int, cursor: str | None = None, period: date | None = None,
                      entity: str | None = None, status: str | None = None) -> Page[dict[str, Any]]:
    after = _int_cursor(cursor)
    q = select(BillingRunRow).order_by(col(BillingRunRow.id).desc()).limit(limit + 1)
    if after is not None:
        q = q.where(col(BillingRunRow.id) < after)
    if period is not None:
        q = q.where(col(BillingRunRow.period) == f"{period:%Y-%m}")
    if entity:
        q = q.where(col(BillingRunRow.entity_id) == entity)
    if status:
        q = q.where(col(BillingRunRow.status) == status)
    rows = [_run_json(r) for r in session.execute(q).scalars()]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor([rows[-1]["id"]]) if more and rows else None)


def billing_run(session: Session, run_id: int) -> dict[str, Any] | None:
    row = session.get(BillingRunRow, run_id)
    if row is None:
        return None
    issued = session.execute(select(func.count()).where(col(InvoiceRow.run_id) == run_id)).scalar_one()
    return _run_json(row, report=True) | {"issued_invoices": int(issued),
                                          "invoices_url": f"/api/invoices?run={run_id}"}


# -- the customers invoices go to -------------------------------------------------------------------------------
def billing_customer_json(row: BillingCustomerRow) -> dict[str, Any]:
    """Who is billed. Never a personal identity code: a consumer has no identifier here at all."""
    return {
        "id": row.id, "source": row.source, "name": row.name, "customer_type": row.customer_type,
        "business_id": row.business_id, "address": {"street": row.street, "postcode": row.postcode,
                                                    "city": row.city, "country": row.country},
        "language": row.language, "channel": row.channel, "e_invoice_address": row.e_invoice_address,
        "e_invoice_operator": row.e_invoice_operator, "email": row.email, "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }


def list_billing_customers(session: Session, *, limit: int, cursor: str | None = None, name: str | None = None
                           ) -> Page[dict[str, Any]]:
    after = _int_cursor(cursor)
    q = select(BillingCustomerRow).order_by(col(BillingCustomerRow.id)).limit(limit + 1)
    if after is not None:
        q = q.where(col(BillingCustomerRow.id) > after)
    if name:
        q = q.where(func.lower(col(BillingCustomerRow.name)).contains(name.lower(), autoescape=True))
    rows = [billing_customer_json(r) for r in session.execute(q).scalars()]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor([rows[-1]["id"]]) if more and rows else None)


def billing_customer(session: Session, customer_id: int, *, invoices: int = 50) -> dict[str, Any] | None:
    """A billed customer with its newest invoices, the accounting points it was billed for and the Datahub
    customer rows (F01) behind it."""
    row = session.get(BillingCustomerRow, customer_id)
    if row is None:
        return None
    page = list_invoices(session, InvoiceFilter(customer_id=customer_id), limit=invoices)
    points = sorted(p for p in session.execute(
        select(col(InvoiceLineRow.accounting_point)).distinct()
        .join(InvoiceRow, col(InvoiceRow.id) == col(InvoiceLineRow.invoice_id))
        .where(col(InvoiceRow.customer_id) == customer_id, col(InvoiceLineRow.accounting_point).is_not(None))
    ).scalars() if p)
    datahub = []
    if row.customer_key.startswith(DATAHUB_KEY_PREFIX):
        f01_key = row.customer_key[len(DATAHUB_KEY_PREFIX):]
        datahub = [int(i) for i in session.execute(  # type: ignore[arg-type]
            select(col(CustomerRow.id)).where(col(CustomerRow.customer_key) == f01_key)
            .order_by(col(CustomerRow.id))).scalars()]
    return billing_customer_json(row) | {
        "invoices": page.items, "invoices_next_cursor": page.next_cursor, "accounting_points": points,
        "datahub_customers": datahub,
    }


def billing_customer_of(session: Session, f01_customer_key: str) -> int | None:
    """The billing customer of a Datahub (F01) customer key, if it has been billed."""
    found = session.execute(select(col(BillingCustomerRow.id)).where(
        col(BillingCustomerRow.customer_key) == DATAHUB_KEY_PREFIX + f01_customer_key)).scalar_one_or_none()
    return None if found is None else int(found)
