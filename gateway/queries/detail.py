"""One message of the log in full: its header data, validation errors with line and column, transactions,
acknowledgement, timeline and where its raw bytes are."""

from __future__ import annotations

import json
import logging
import re
import zlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.access.masking import mask_identity_codes
from gateway.queries.messages import (
    BANK_FILE,
    CATALOGUE,
    INBOUND,
    INVOICE,
    OUTBOUND,
    PRICE_FILE,
    PROVIDER_CALL,
    WEBHOOK,
    MessageRef,
    MessageSummary,
    summary_of,
)
from gateway.queries.timeline import inbound_timeline, invoice_timeline, outbound_timeline
from gateway.store.billing_tables import InvoiceRow
from gateway.store.payments_tables import BankEntryRow, BankFileRow, ProviderRequestRow, ProviderWebhookRow
from gateway.store.rating_tables import CatalogueVersion
from gateway.store.tables import MessageRecord, OutboundMessage, PartyQueueItem, RawMessage, TransactionRecord
from gateway.xml.hardened import XmlInputError, parse_xml
from mappings.registry import parse_document

log = logging.getLogger("gateway.queries.detail")

TRANSACTIONS_SHOWN: Final = 1000  # a bundle may carry 10,000; the rest are counted and reachable by lineage
_MAX_RAW: Final = 64 * 1024 * 1024
_ACK_SEARCH_WINDOW: Final = timedelta(minutes=10)


@dataclass(frozen=True)
class RawDocument:
    data: bytes
    media_type: str
    filename: str


def _errors(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Validation errors as stored (code, text, line, column, transaction), texts masked."""
    return [{
        "code": e.get("code"), "text": mask_identity_codes(str(e.get("text", ""))),
        "line": e.get("line"), "column": e.get("column"), "transaction_id": e.get("transaction_id"),
        **({"series": e["series"]} if "series" in e else {}),
    } for e in items or []]


def message_detail(session: Session, ref: MessageRef) -> dict[str, Any] | None:
    summary = summary_of(session, ref)
    if summary is None:
        return None
    base = summary.to_json()
    if ref.kind == INBOUND:
        return base | _inbound_detail(session, ref.pk)
    if ref.kind == OUTBOUND:
        return base | _outbound_detail(session, ref.pk)
    if ref.kind == INVOICE:
        return base | _invoice_detail(session, ref.pk)
    if ref.kind == BANK_FILE:
        return base | _bank_file_detail(session, summary, ref.pk)
    if ref.kind == PROVIDER_CALL:
        return base | _provider_call_detail(session, ref.pk)
    if ref.kind == WEBHOOK:
        return base | _webhook_detail(summary)
    return base | _file_detail(summary)


def _inbound_detail(session: Session, pk: int) -> dict[str, Any]:
    record = session.get(MessageRecord, pk)
    assert record is not None
    raw = session.get(RawMessage, record.raw_id)
    txns = session.execute(
        select(TransactionRecord).where(col(TransactionRecord.message_pk) == pk)
        .order_by(col(TransactionRecord.id)).limit(TRANSACTIONS_SHOWN)
    ).scalars().all()
    total = len(txns) if len(txns) < TRANSACTIONS_SHOWN else int(session.execute(
        select(func.count()).where(col(TransactionRecord.message_pk) == pk)).scalar_one())
    return {
        "level": record.level,
        "errors": _errors(record.errors),
        "raw": None if raw is None else {
            "size": raw.size, "sha256": raw.sha256, "channel": raw.channel,
            "authenticated_party": raw.authenticated_party, "received_at": raw.received_at.isoformat(),
        },
        "transaction_rows": [{
            "id": t.id, "transaction_id": t.transaction_id, "accounting_point": t.accounting_point,
            "status": t.status, "errors": _errors(t.errors),
        } for t in txns],
        "transaction_rows_total": total,
        "acknowledgement": _ack_of_inbound(session, record, raw),
        "timeline": [s.to_json() for s in inbound_timeline(session, record)],
    }


def _ack_of_inbound(session: Session, record: MessageRecord, raw: RawMessage | None) -> dict[str, Any] | None:
    """The ACK we queued for the sender (our endpoint), or — for an ACK we received — the message it answers."""
    if record.ack_message_id:
        item = session.execute(
            select(PartyQueueItem).where(col(PartyQueueItem.message_id) == record.ack_message_id)
        ).scalar_one_or_none()
        return {
            "direction": "sent", "message_id": record.ack_message_id, "reason_code": record.reason_code,
            "queued_at": item.created_at.isoformat() if item else None,
            "dequeued_at": item.dequeued_at.isoformat() if item and item.dequeued_at else None,
            "xml": mask_identity_codes(item.body.decode("utf-8", "replace")) if item else None,
        }
    if record.document_type == "ACK" and raw is not None:
        original = _acknowledged_reference(zlib.decompress(raw.body))
        if original is None:
            return None
        out = session.execute(
            select(col(OutboundMessage.id)).where(col(OutboundMessage.message_id) == original)
        ).scalar_one_or_none()
        return {"direction": "received", "reason_code": record.reason_code, "acknowledges_message_id": original,
                "acknowledges": None if out is None else f"{OUTBOUND}-{out}"}
    return None


def _acknowledged_reference(data: bytes) -> str | None:
    """OriginalBusinessDocumentReference of an ACK document (None if it cannot be read)."""
    try:
        message = parse_document(parse_xml(data, max_bytes=_MAX_RAW).getroot())
    except (XmlInputError, ValueError, KeyError, LookupError) as error:
        log.info("cannot read an ACK's reference: %s", error)
        return None
    return message.header.original_business_document_reference


def _outbound_detail(session: Session, pk: int) -> dict[str, Any]:
    row = session.get(OutboundMessage, pk)
    assert row is not None
    ack_in: str | None = None
    if row.ack_reason_code:
        ack_in = _inbound_ack_for(session, row)
    return {
        "errors": _errors(row.ack_errors),
        "raw": {"size": len(row.body), "channel": "datahub", "received_at": None},
        "datahub_reference": row.datahub_reference,
        "resend_of": row.resend_of,
        "acknowledgement": None if not row.ack_reason_code else {
            "direction": "received", "reason_code": row.ack_reason_code, "message": ack_in,
        },
        "timeline": [s.to_json() for s in outbound_timeline(session, row)],
    }


def _inbound_ack_for(session: Session, row: OutboundMessage) -> str | None:
    """The registry id of the ACK Datahub sent for `row`: ACKs received around the time the row was updated,
    read until one names it (the registry keeps no reference column)."""
    candidates = session.execute(
        select(col(MessageRecord.id), col(MessageRecord.raw_id)).where(
            col(MessageRecord.document_type) == "ACK",
            col(MessageRecord.received_at) >= row.updated_at - _ACK_SEARCH_WINDOW,
            col(MessageRecord.received_at) <= row.updated_at + _ACK_SEARCH_WINDOW,
        ).order_by(col(MessageRecord.id)).limit(50)
    ).all()
    for pk, raw_id in candidates:
        raw = session.get(RawMessage, raw_id)
        if raw is not None and _acknowledged_reference(zlib.decompress(raw.body)) == row.message_id:
            return f"{INBOUND}-{pk}"
    return None


def _invoice_detail(session: Session, pk: int) -> dict[str, Any]:
    row = session.get(InvoiceRow, pk)
    assert row is not None
    return {
        "errors": [],
        "raw": {"size": len(row.finvoice), "sha256": row.finvoice_sha256, "channel": row.channel,
                "received_at": None},
        "invoice": {"id": row.id, "kind": row.kind, "entity": row.entity_id, "number": row.number,
                    "customer_id": row.customer_id, "total": row.total, "status": row.status,
                    "payment_status": row.payment_status, "original_invoice_id": row.original_invoice_id,
                    "finvoice": f"/api/invoices/{row.id}/finvoice", "pdf": f"/api/invoices/{row.id}/pdf"},
        "timeline": [s.to_json() for s in invoice_timeline(session, row)],
    }


def _file_detail(summary: MessageSummary) -> dict[str, Any]:
    return {"errors": [], "file": summary.extra, "timeline": [
        {"at": summary.at.isoformat(), "kind": summary.status, "detail": {"source": summary.source},
         "recorded": False}]}


PAYMENTS_SHOWN: Final = 1000  # a bank file's entries listed with it (all: /api/payments)


def _bank_file_detail(session: Session, summary: MessageSummary, pk: int) -> dict[str, Any]:
    entries = session.execute(
        select(col(BankEntryRow.id), col(BankEntryRow.entry_ref), col(BankEntryRow.amount),
               col(BankEntryRow.reference), col(BankEntryRow.status), col(BankEntryRow.booking_date))
        .where(col(BankEntryRow.file_id) == pk).order_by(col(BankEntryRow.id)).limit(PAYMENTS_SHOWN)).all()
    return {"errors": [], "file": summary.extra, "payments": [
        {"id": int(i or 0), "entry_ref": ref, "amount": amount, "reference": reference, "status": status,
         "booking_date": day.isoformat()} for i, ref, amount, reference, status, day in entries],
        "timeline": [{"at": summary.at.isoformat(), "kind": "imported", "detail": {
            k: summary.extra[k] for k in ("entries", "allocated", "unmatched", "already_imported")},
            "recorded": True}]}


def _provider_call_detail(session: Session, pk: int) -> dict[str, Any]:
    row = session.get(ProviderRequestRow, pk)
    assert row is not None
    timeline = [{"at": row.created_at.isoformat(), "kind": "queued" if row.kind not in ("job", "credit_note")
                 else "sent", "detail": {"kind": row.kind}, "recorded": True}]
    if row.sent_at is not None and timeline[0]["kind"] == "queued":
        timeline.append({"at": row.sent_at.isoformat(), "kind": "sent", "detail": row.answer or {},
                         "recorded": True})
    elif row.status == "skipped":
        timeline.append({"at": row.created_at.isoformat(), "kind": "skipped", "detail": {}, "recorded": False})
    return {"errors": [], "provider_call": {"kind": row.kind, "invoice_id": row.invoice_id, "account": row.account,
                                            "request": row.body, "answer": row.answer, "status": row.status},
            "timeline": timeline}


def _webhook_detail(summary: MessageSummary) -> dict[str, Any]:
    error = summary.extra.get("error")
    return {"errors": [{"code": "invalid-batch", "text": error, "line": None, "column": None,
                        "transaction_id": None}] if error else [],
            "webhook": summary.extra,
            "timeline": [{"at": summary.at.isoformat(), "kind": summary.status, "detail": {
                k: summary.extra[k] for k in ("stored", "duplicates", "unknown")}, "recorded": True}]}


def raw_document(session: Session, ref: MessageRef) -> RawDocument | None:
    """The exact bytes received or sent (a price file is not archived: its intervals are, see /api/prices); for
    an invoice the Finvoice as released."""
    if ref.kind == INBOUND:
        record = session.get(MessageRecord, ref.pk)
        raw = session.get(RawMessage, record.raw_id) if record is not None else None
        if raw is None:
            return None
        name = (record.message_id if record and record.message_id else ref.id).replace("/", "_")
        return RawDocument(zlib.decompress(raw.body), "application/xml", f"{name}.xml")
    if ref.kind == OUTBOUND:
        row = session.get(OutboundMessage, ref.pk)
        return None if row is None else RawDocument(row.body, "application/xml", f"{row.message_id}.xml")
    if ref.kind == INVOICE:
        invoice = session.get(InvoiceRow, ref.pk)
        if invoice is None or invoice.released_at is None:
            return None
        return RawDocument(bytes(invoice.finvoice), "application/xml",
                           f"{invoice.entity_id}-{invoice.number or invoice.id}.xml")
    if ref.kind == CATALOGUE:
        cat = session.get(CatalogueVersion, ref.pk)
        if cat is None:
            return None
        media = "application/toml" if cat.format == "toml" else "application/yaml"
        return RawDocument(cat.content.encode("utf-8"), media, f"catalogue-{cat.id}.{cat.format}")
    if ref.kind == BANK_FILE:
        bank = session.get(BankFileRow, ref.pk)
        if bank is None:
            return None
        return RawDocument(bytes(bank.content), "application/xml" if bank.format == "camt.054" else "text/plain",
                           re.sub(r"[^A-Za-z0-9._-]", "_", bank.name) or f"bank-{bank.id}")
    if ref.kind == PROVIDER_CALL:
        call = session.get(ProviderRequestRow, ref.pk)
        if call is None:
            return None
        data = json.dumps({"request": call.body, "answer": call.answer}, ensure_ascii=False, indent=2)
        return RawDocument(data.encode("utf-8"), "application/json", f"provider-{call.kind}-{call.id}.json")
    if ref.kind == WEBHOOK:
        hook = session.get(ProviderWebhookRow, ref.pk)
        if hook is None:
            return None
        body = bytes(hook.body)
        try:  # a refused batch may be anything: only an object is served as JSON
            is_object = isinstance(json.loads(body), dict)
        except (ValueError, UnicodeDecodeError):
            is_object = False
        return RawDocument(body, "application/json" if is_object else "text/plain",
                           f"webhook-{hook.id}.{'json' if is_object else 'txt'}")
    assert ref.kind == PRICE_FILE
    return None
