"""The outbox seen by support: dead letters (newest first, keyset-paged) and their replay."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.access.masking import mask_identity_codes
from gateway.queries.pagination import BadQuery, Page, decode_cursor, encode_cursor
from gateway.queries.timeline import OUTBOUND, REPLAYED, TOPIC_SEND, record_message_event
from gateway.store.tables import OutboundMessage
from outbox.core import DEAD, PENDING
from outbox.schema import outbox_message
from outbox.types import utcnow


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
        "id": row.id, "message_id": row.message_id, "topic": row.topic, "key": row.key, "attempts": row.attempts,
        "last_error": _last_line(row.last_error), "created_at": row.created_at.isoformat(),
        "failed_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
        "payload": json.loads(mask_identity_codes(json.dumps(payload))),
        "subject": _subject(session, row.topic, payload),
    }


def list_dead_letters(session: Session, *, limit: int, cursor: str | None = None,
                      topic: str | None = None) -> Page[dict[str, Any]]:
    c = outbox_message.c
    key = decode_cursor(cursor, 1)
    q = select(outbox_message).where(c.state == DEAD).order_by(c.id.desc()).limit(limit + 1)
    if key is not None:
        if not isinstance(key[0], int):
            raise BadQuery("cursor is not one this service issued")
        q = q.where(c.id < key[0])
    if topic:
        q = q.where(c.topic == topic)
    rows = session.execute(q).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return Page([_dead_json(session, r) for r in rows], encode_cursor([rows[-1].id]) if more and rows else None)


def dead_letter(session: Session, outbox_id: int) -> dict[str, Any] | None:
    c = outbox_message.c
    row = session.execute(select(outbox_message).where(c.id == outbox_id)).first()
    if row is None:
        return None
    return _dead_json(session, row) | {"state": row.state}


def replay_dead_letter(session: Session, outbox_id: int) -> bool:
    """Give one dead letter a fresh set of attempts in the caller's transaction (its audit row commits with it);
    False when it is not (or no longer) a dead letter. The same change as `gateway outbox replay ID`."""
    c = outbox_message.c
    row = session.execute(select(c.topic, c.payload).where(c.id == outbox_id, c.state == DEAD)).first()
    if row is None:
        return False
    changed = session.execute(
        update(outbox_message).where(c.id == outbox_id, c.state == DEAD)
        .values(state=PENDING, attempts=0, next_attempt_at=utcnow())
    ).rowcount  # type: ignore[attr-defined]
    if not changed:
        return False
    subject = _subject(session, row.topic, row.payload if isinstance(row.payload, dict) else {})
    if subject is not None:
        direction, pk = ("inbound", int(subject[3:])) if subject.startswith("in-") else (OUTBOUND, int(subject[4:]))
        record_message_event(session, pk, REPLAYED, utcnow(), {"outbox_id": outbox_id}, direction=direction)
    return True
