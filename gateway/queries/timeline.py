"""A message's status timeline: derived from what the stores already record, plus `message_event` rows for
the steps nothing else records.

received → validated → stored / parked → released / rejected → ACK queued → ACK dequeued (our endpoint), or
landed → received → … → dequeued (a Datahub pull: the pull log, `datahub_pull_log`); queued → sent → acknowledged /
rejected / dead-lettered → replayed for what we send; issued → released → sent → credited / corrected for an
invoice or credit note. Derived steps carry the time of the row they come from; steps taken in the receive
pipeline's one transaction share its time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.store.billing_tables import InvoiceRow
from gateway.store.support_tables import MessageEvent
from gateway.store.tables import (
    MessageRecord,
    OutboundMessage,
    ParkedMessage,
    PartyQueueItem,
    PullLogRow,
    RawMessage,
)
from outbox.schema import outbox_delivery, outbox_message

INBOUND: Final = "inbound"
OUTBOUND: Final = "outbound"
INVOICE: Final = "invoice"  # message_pk is invoice.id (the payment provider's calls about an invoice)
DIRECTIONS: Final = (INBOUND, OUTBOUND, INVOICE)

# Kinds other modules record (the pull worker, the outbox replay, the pipeline); free text is allowed too.
DEQUEUED: Final = "dequeued"
DEQUEUE_FAILED: Final = "dequeue_failed"
REPLAYED: Final = "replayed"
SENT: Final = "sent"
REFUSED: Final = "refused"
ACKNOWLEDGED: Final = "acknowledged"
TOPIC_SEND: Final = "datahub.send"  # gateway.outbound.TOPIC_SEND (not imported: queries stay below the services)


@dataclass(frozen=True)
class Step:
    at: datetime
    kind: str
    detail: dict[str, Any]
    recorded: bool = False  # True: a message_event row; False: derived from the stores

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "kind": self.kind, "detail": self.detail, "recorded": self.recorded}


def record_message_event(
    session: Session,
    message_pk: int,
    kind: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
    *,
    direction: str = INBOUND,
) -> None:
    """Record a step of a message's life in the caller's transaction.

    `message_pk` is message_registry.id (`direction="inbound"`), outbound_message.id (`"outbound"`) or
    invoice.id (`"invoice"`). Meant for the steps no table records: `dequeued` / `dequeue_failed` after a Datahub
    pull, `sent` by the datahub.send call, `replayed`, and the payment provider's calls about an invoice.
    Writing it in the same transaction as the step itself keeps the log exact.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
    if at.tzinfo is None:
        raise ValueError("at must be a timezone-aware UTC instant")
    session.add(MessageEvent(direction=direction, message_pk=message_pk, kind=kind[:30], at=at, detail=detail))


def _recorded(session: Session, direction: str, pk: int) -> list[Step]:
    rows = session.execute(
        select(MessageEvent).where(col(MessageEvent.direction) == direction, col(MessageEvent.message_pk) == pk)
        .order_by(col(MessageEvent.at), col(MessageEvent.id))
    ).scalars()
    return [Step(r.at, r.kind, dict(r.detail or {}), recorded=True) for r in rows]


def inbound_timeline(session: Session, record: MessageRecord) -> list[Step]:
    assert record.id is not None
    at = record.received_at
    raw = session.get(RawMessage, record.raw_id)
    # Steps of the pipeline's one transaction share its time; a stable sort keeps them in this order.
    steps = [Step(at, "received", {"channel": record.channel, "bytes": raw.size if raw else None,
                                   "authenticated_party": raw.authenticated_party if raw else record.sender_gln})]
    if record.level == "schema":
        steps.append(Step(at, "rejected", {"level": "schema", "reason_code": record.reason_code}))
    else:
        steps.append(Step(at, "validated", {"levels": "schema, process"}))
        if record.level == "process":
            steps[-1] = Step(at, "rejected", {"level": "process", "reason_code": record.reason_code})
    parked = session.execute(
        select(ParkedMessage).where(col(ParkedMessage.message_pk) == record.id)
    ).scalar_one_or_none()
    if parked is not None:
        steps.append(Step(parked.parked_at, "parked", {"waiting_for": list(parked.waiting_for),
                                                       "reason": parked.reason}))
        if parked.released_at is not None:
            steps.append(Step(parked.released_at, "released", {"attempts": parked.attempts,
                                                               "status": record.status}))
    if record.level in (None, "event") and record.status in ("accepted", "partially_accepted"):
        steps.append(Step(parked.released_at if parked and parked.released_at else at, "stored",
                          {"status": record.status, "transactions": record.transactions}))
    elif record.level == "event" and record.status == "rejected":
        steps.append(Step(at, "rejected", {"level": "event", "reason_code": record.reason_code}))
    if record.ack_message_id:
        ack = session.execute(
            select(col(PartyQueueItem.created_at), col(PartyQueueItem.dequeued_at), col(PartyQueueItem.reference))
            .where(col(PartyQueueItem.message_id) == record.ack_message_id)
        ).first()
        if ack is not None:
            steps.append(Step(ack[0], "ack_queued", {"ack_message_id": record.ack_message_id,
                                                     "reason_code": record.reason_code}))
            if ack[1] is not None:
                steps.append(Step(ack[1], "ack_dequeued", {"reference": ack[2]}))
    if record.channel == "datahub":
        steps += _pulled(session, record.sha256)
    steps += _recorded(session, INBOUND, record.id)
    return sorted(steps, key=lambda s: s.at)


def _pulled(session: Session, sha256: str) -> list[Step]:
    """Landed and dequeued (or not) at Datahub's end, from the pull log, for every delivery of these bytes."""
    rows = session.execute(
        select(PullLogRow).where(col(PullLogRow.sha256) == sha256).order_by(col(PullLogRow.at), col(PullLogRow.id))
    ).scalars()
    return [Step(row.at, row.event, {"reference": row.reference, "queue": row.queue}, recorded=True) for row in rows]


def outbound_timeline(session: Session, row: OutboundMessage) -> list[Step]:
    assert row.id is not None
    steps = [Step(row.created_at, "queued", {"resend_of": row.resend_of} if row.resend_of else {})]
    m, d = outbox_message.c, outbox_delivery.c
    sends = session.execute(
        select(d.id, d.state, d.attempts, d.last_error, d.processed_at, d.next_attempt_at)
        .join(outbox_message, m.id == d.message_pk)
        .where(m.topic == TOPIC_SEND, m.payload["message_id"].as_string() == row.message_id)
        .order_by(d.id)
    ).all()
    recorded = _recorded(session, OUTBOUND, row.id)
    # The datahub.send call records its outcome itself (with the reference); older rows only have the delivery.
    called = {s.detail.get("outbox_id") for s in recorded if s.kind in (SENT, REFUSED)}
    for outbox_id, state, attempts, last_error, processed_at, next_attempt_at in sends:
        if state == "done" and outbox_id in called:
            continue
        if state == "dead":
            steps.append(Step(next_attempt_at, "dead_lettered", {
                "outbox_id": outbox_id, "attempts": attempts, "last_error": _last_line(last_error)}))
        elif state == "done" and processed_at is not None:
            kind = "refused" if row.status == "failed" else "sent"
            steps.append(Step(processed_at, kind, {"outbox_id": outbox_id, "attempts": attempts,
                                                   "datahub_reference": row.datahub_reference}))
        elif attempts:
            steps.append(Step(next_attempt_at, "retrying", {"outbox_id": outbox_id, "attempts": attempts,
                                                            "last_error": _last_line(last_error)}))
    if row.ack_reason_code:
        steps.append(Step(row.updated_at, "acknowledged", {"reason_code": row.ack_reason_code,
                                                           "status": row.status}))
    resent = session.execute(
        select(col(OutboundMessage.message_id), col(OutboundMessage.created_at))
        .where(col(OutboundMessage.resend_of) == row.message_id)
    ).all()
    steps += [Step(at, "resent", {"as": mid}) for mid, at in resent]
    steps += recorded
    return sorted(steps, key=lambda s: s.at)


def invoice_timeline(session: Session, row: InvoiceRow) -> list[Step]:
    """An invoice or credit note: issued (numbered, in a billing run or a correction) → released → sent by the
    provider → credited / corrected by later documents; and whatever the provider integration records."""
    assert row.id is not None
    steps = [Step(row.issued_at, "issued", {"number": row.number, "entity": row.entity_id, "run_id": row.run_id,
                                            "original_invoice_id": row.original_invoice_id})]
    if row.released_at is not None:
        steps.append(Step(row.released_at, "released", {"channel": row.channel, "total": row.total,
                                                        "due_date": row.due_date.isoformat()}))
    if row.sent_at is not None:
        steps.append(Step(row.sent_at, "sent", {"channel": row.channel}))
    later = session.execute(
        select(col(InvoiceRow.id), col(InvoiceRow.kind), col(InvoiceRow.number), col(InvoiceRow.issued_at))
        .where(col(InvoiceRow.original_invoice_id) == row.id).order_by(col(InvoiceRow.id))
    ).all()
    for pk, kind, number, at in later:
        steps.append(Step(at, "credited" if kind == "credit_note" else "corrected",
                          {"by": f"inv-{pk}", "number": number}))
    steps += _recorded(session, INVOICE, row.id)
    return sorted(steps, key=lambda s: s.at)


def _last_line(text: str | None) -> str | None:
    if not text:
        return None
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else None
