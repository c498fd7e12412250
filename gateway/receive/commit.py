"""The one transaction: raw archive + message registry (unique per sender and message id) + transaction registry +
domain change + outbox rows (+ the ACK queued for a sender on our SOAP endpoint). One message or a run of them,
written in the caller's transaction in the order given, so that a run stores exactly what its messages would
have stored one after another."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.apply import apply_transactions, release_parked_for, store_metering_batch
from gateway.domain.message import MessageHeader
from gateway.domain.metering import MeteringTransaction
from gateway.receive.checks import DUPLICATE_TRANSACTION
from gateway.receive.outcomes import ACCEPTED, CHANNEL_SOAP, MAX_ERRORS, PARKED, REJECTED, Draft, ReceiveOutcome
from gateway.receive.parking import park
from gateway.store.queries import insert_rows, insert_rows_returning_ids
from gateway.store.tables import MessageRecord, PartyQueueItem, RawMessage, TransactionRecord
from gateway.validation import CheckResult
from mappings.ack import build_ack_for
from outbox.types import utcnow

ARCHIVE_LEVEL = 1  # zlib level of the raw archive: a fifth of the size of XML, at the least CPU


def compress(data: bytes) -> bytes:
    return zlib.compress(data, ARCHIVE_LEVEL)


def write(session: Session, drafts: Sequence[Draft], now: datetime) -> list[ReceiveOutcome]:
    """Store the drafts in the caller's transaction, in order; their outcomes."""
    if not drafts:
        return []
    acks = [_ack(d) for d in drafts]
    raw_ids = insert_rows_returning_ids(session, RawMessage.__table__, [  # type: ignore[attr-defined]
        {"sha256": d.digest, "size": len(d.data), "body": d.archived if d.archived is not None else compress(d.data),
         "channel": d.channel, "authenticated_party": d.sender, "received_at": now,
         "payload_offset": d.payload_offset}
        for d in drafts])
    record_ids = insert_rows_returning_ids(session, MessageRecord.__table__, [  # type: ignore[attr-defined]
        {"sender_gln": d.sender, "message_id": d.message_id if d.claims_id else None,
         "document_type": d.document_type, "business_process": d.business_process, "raw_id": raw_id,
         "sha256": d.digest, "channel": d.channel, "status": d.status, "level": d.level,
         "reason_code": d.reason_code, "errors": [i.to_dict() for i in d.errors] or None,
         "error_count": len(d.errors) + d.more_errors,
         "transactions": len(d.message.transactions) if d.message else 0, "received_at": now, "updated_at": now,
         "ack_message_id": ack[0] if ack else None}
        for d, raw_id, ack in zip(drafts, raw_ids, acks, strict=True)])
    insert_rows(session, TransactionRecord.__table__, [  # type: ignore[attr-defined]
        row for d, pk in zip(drafts, record_ids, strict=True) for row in _transaction_rows(d, pk)])
    for d, ack in zip(drafts, acks, strict=True):
        if ack is not None:
            assert d.message is not None
            session.add(PartyQueueItem(recipient_gln=d.message.header.physical_sender, reference=str(uuid.uuid4()),
                                       document_type="ACK", message_id=ack[0], body=ack[1], created_at=now))
    apply(session, [(d, pk, raw_id) for d, pk, raw_id in zip(drafts, record_ids, raw_ids, strict=True)], now)
    return [d.outcome(pk, ack[1] if ack else None) for d, pk, ack in zip(drafts, record_ids, acks, strict=True)]


def apply(session: Session, drafts: Sequence[tuple[Draft, int, int]], now: datetime) -> None:
    """The domain change of each (draft, registry id, raw id), in order: park it, or apply its accepted
    transactions. Consecutive metering messages are stored with one version lookup and one bulk insert."""
    metering: list[tuple[MessageHeader, Sequence[MeteringTransaction], int]] = []

    def store_metering() -> None:
        if metering:
            # Metering rows are stamped as in apply_transactions, by the wall clock.
            store_metering_batch(session, metering, utcnow())
            metering.clear()

    for draft, message_pk, raw_id in drafts:
        message, result = draft.message, draft.check
        if message is None or result is None:
            continue
        if draft.status == PARKED:
            store_metering()
            park(session, draft, message_pk, raw_id, now)
            continue
        accepted = [t.index for t in result.accepted] if draft.reason_code != "BA02" else []
        if not accepted:
            continue
        if isinstance(message.transactions[accepted[0]], MeteringTransaction):
            metering.append((message.header, [message.transactions[i] for i in accepted], message_pk))
            continue
        store_metering()
        release_parked_for(session, apply_transactions(session, message, accepted, message_pk))
    store_metering()


def settle_parked(session: Session, record: MessageRecord, draft: Draft, raw_id: int, now: datetime) -> None:
    """A parked message that can be decided now: its registry rows take the new result and its accepted
    transactions are applied, in the caller's transaction (the release handler's)."""
    assert record.id is not None and draft.check is not None
    record.status = draft.status
    record.level = draft.level
    record.reason_code = draft.reason_code
    record.errors = [i.to_dict() for i in draft.errors] or None
    record.error_count = len(draft.errors) + draft.more_errors
    record.updated_at = now
    for result in draft.check.transactions:
        if result.transaction_id:
            session.execute(
                update(TransactionRecord)
                .where(col(TransactionRecord.message_pk) == record.id)
                .where(col(TransactionRecord.transaction_id) == result.transaction_id)
                .values(status=ACCEPTED if result.accepted else REJECTED,
                        errors=[{"code": e.code, "text": e.text} for e in result.errors] or None)
            )
    apply(session, [(draft, record.id, raw_id)], now)


def _transaction_rows(draft: Draft, message_pk: int) -> list[dict[str, Any]]:
    if draft.message is None or draft.check is None:
        return []
    return [
        {
            "sender_gln": draft.sender, "transaction_id": result.transaction_id, "message_pk": message_pk,
            "accounting_point": getattr(txn, "accounting_point", None),
            "status": _transaction_status(draft, result.accepted),
            "errors": [{"code": e.code, "text": e.text} for e in result.errors] or None,
        }
        for result, txn in zip(draft.check.transactions, draft.message.transactions, strict=True)
        if result.transaction_id and not any(e.code == DUPLICATE_TRANSACTION for e in result.errors)
    ]


def _transaction_status(draft: Draft, accepted: bool) -> str:
    if draft.status == PARKED:
        return PARKED
    if draft.reason_code == "BA02" or not accepted:
        return REJECTED
    return ACCEPTED


def _ack(draft: Draft) -> tuple[str, bytes] | None:
    """The ACK a sender on our SOAP endpoint gets for a message that was decided at event level (id, body)."""
    if draft.channel != CHANNEL_SOAP or draft.message is None or draft.check is None or draft.status == PARKED:
        return None
    header, result = draft.message.header, draft.check
    listed = _capped(result)
    ack_id = str(uuid.uuid4())
    return ack_id, build_ack_for(header, header.juridical_recipient, result.reason_code, listed.event_reasons(),
                                 listed.series_details(), ack_id)


def _capped(result: CheckResult) -> CheckResult:
    """The check's errors as the ACK lists them: the first MAX_ERRORS, as everywhere else, except that every rejected
    transaction keeps its first reason (the sender must learn which series were not taken)."""
    budget = MAX_ERRORS - min(len(result.message_errors), MAX_ERRORS)
    transactions = []
    for t in result.transactions:
        if t.errors:
            keep = max(1, min(len(t.errors), budget))
            budget -= min(len(t.errors), budget)
            t = replace(t, errors=t.errors[:keep])
        transactions.append(t)
    return CheckResult(result.message_id, result.message_errors[:MAX_ERRORS], tuple(transactions))
