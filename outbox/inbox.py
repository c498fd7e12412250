"""The inbox: what each consumer has already processed, so redelivery has no second effect."""

from __future__ import annotations

from sqlalchemy import exists, insert, select
from sqlalchemy.orm import Session

from outbox.schema import outbox_inbox
from outbox.types import utcnow

_RECORD = insert(outbox_inbox)


def already_processed(session: Session, consumer: str, message_id: str) -> bool:
    stmt = select(
        exists().where(outbox_inbox.c.consumer == consumer, outbox_inbox.c.message_id == message_id)
    )
    return bool(session.execute(stmt).scalar())


def record_processed(session: Session, consumer: str, message_id: str) -> None:
    """Insert the inbox row in the caller's transaction.

    The primary key decides races: when two deliveries of one message run at once, the second insert fails
    with an integrity error and its whole transaction (including the handler's effect) rolls back.
    """
    session.execute(_RECORD, {"consumer": consumer, "message_id": message_id, "processed_at": utcnow()})
