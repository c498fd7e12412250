"""The outbox seen by support: dead letters (newest first, keyset-paged) and their replay.

A dead letter is one consumer's delivery of a message (`outbox_delivery`): its id is the delivery id that
`gateway outbox status` lists and `gateway outbox replay` takes; the message's other consumers are not
affected by it."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.access.masking import mask_identity_codes
from gateway.queries.pagination import BadQuery, Page, decode_cursor, encode_cursor
from gateway.queries.timeline import OUTBOUND, REPLAYED, TOPIC_SEND, record_message_event
from gateway.store.tables import OutboundMessage
from outbox.admin import replay_in
from outbox.core import DEAD
from outbox.schema import outbox_delivery, outbox_message
from outbox.types import utcnow

_d, _m = outbox_delivery.c, outbox_message.c
# One row per delivery with what a person needs of its message.
_DEAD_COLUMNS = (_d.id, _d.consumer, _d.state, _d.attempts, _d.last_error, _d.next_attempt_at, _m.message_id,
                 _m.topic, _m.key, _m.payload, _m.created_at)


def _last_line(text: str | None) -> str | None:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return mask_identity_codes(lines[-1][:1000]) if lines else None


def _subject(session: Session, topic: str, payload: dict[str, Any]) -> str | None:
    """The message of the log a dead letter is about, when its payload names one."""
    if topic == TOPIC_SEND and payload.get("message_id"):
        pk = session.execute(select(col(OutboundMessage.id)).where(
            col(OutboundMessage.message_id) == str(payload["message_id"]))).scalar_one_or_none()
        return None if pk is None else f"out-{pk}"
    if isinstance(payload.get("message_pk"), int):
        return f"in-{payload['message_pk']}"
    return None


def _dead_json(session: Session, row: Any) -> dict[str, Any]:
    payload = row.payload if isinstance(row.payload, dict) else {}
    return {
        "id": row.id, "message_id": row.message_id, "topic": row.topic, "consumer": row.consumer, "key": row.key,
        "attempts": row.attempts,
        "last_error": _last_line(row.last_error), "created_at": row.created_at.isoformat(),
        "failed_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
        "payload": json.loads(mask_identity_codes(json.dumps(payload))),
        "subject": _subject(session, row.topic, payload),
    }


def list_dead_letters(session: Session, *, limit: int, cursor: str | None = None,
                      topic: str | None = None) -> Page[dict[str, Any]]:
    key = decode_cursor(cursor, 1)
    q = (select(*_DEAD_COLUMNS).join(outbox_message, _m.id == _d.message_pk).where(_d.state == DEAD)
         .order_by(_d.id.desc()).limit(limit + 1))
    if key is not None:
        if not isinstance(key[0], int):
            raise BadQuery("cursor is not one this service issued")
        q = q.where(_d.id < key[0])
    if topic:
        q = q.where(_m.topic == topic)
    rows = session.execute(q).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return Page([_dead_json(session, r) for r in rows], encode_cursor([rows[-1].id]) if more and rows else None)


def dead_letter(session: Session, outbox_id: int) -> dict[str, Any] | None:
    row = session.execute(select(*_DEAD_COLUMNS).join(outbox_message, _m.id == _d.message_pk)
                          .where(_d.id == outbox_id)).first()
    if row is None:
        return None
    return _dead_json(session, row) | {"state": row.state}


def replay_dead_letter(session: Session, outbox_id: int) -> bool:
    """Give one dead letter a fresh set of attempts in the caller's transaction (its audit row commits with it);
    False when it is not (or no longer) a dead letter. The same change as `gateway outbox replay ID`."""
    row = session.execute(select(_m.topic, _m.payload).join(outbox_message, _m.id == _d.message_pk)
                          .where(_d.id == outbox_id, _d.state == DEAD)).first()
    if row is None or not replay_in(session, [outbox_id]):
        return False
    subject = _subject(session, row.topic, row.payload if isinstance(row.payload, dict) else {})
    if subject is not None:
        direction, pk = ("inbound", int(subject[3:])) if subject.startswith("in-") else (OUTBOUND, int(subject[4:]))
        record_message_event(session, pk, REPLAYED, utcnow(), {"outbox_id": outbox_id}, direction=direction)
    return True
