"""Parking: a pulled message that waits for data from another queue (an E66 before its accounting point's E58)
is stored as parked and decided again, by the same checks, when that data arrives."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.events import RELEASE_PARKED, ReleaseParked
from gateway.receive.checks import known_points
from gateway.receive.outcomes import Draft
from gateway.store.tables import ParkedMessage

PARKED_RECHECK = timedelta(minutes=1)


def park(session: Session, draft: Draft, message_pk: int, raw_id: int, now: datetime) -> None:
    parked = ParkedMessage(message_pk=message_pk, raw_id=raw_id, sender_gln=draft.sender,
                           waiting_for=list(draft.waiting_for), parked_at=now,
                           reason="; ".join(i.text for i in draft.errors)[:1000])
    session.add(parked)
    session.flush()
    # The master data may have committed between our check and this transaction, releasing nothing because this
    # row did not exist yet: look again now, and once more a minute from now, when any such commit has long
    # finished. A release that finds the message still waiting just leaves it parked.
    assert parked.id is not None
    payload = ReleaseParked(parked_id=parked.id, because="recheck")
    if known_points(session, draft.waiting_for):
        RELEASE_PARKED.emit(session, payload, key=str(message_pk))
    RELEASE_PARKED.emit(session, payload, key=str(message_pk), not_before=now + PARKED_RECHECK)


def take(session: Session, parked_id: int) -> ParkedMessage | None:
    """The parked message, taken for this transaction; None when it was released already (or never existed).
    A conditional update takes the row first: two release events for one parked message (two points it waited
    for, two master-data versions) then serialise on it, and only one of them applies it."""
    taken = session.execute(
        update(ParkedMessage)
        .where(col(ParkedMessage.id) == parked_id, col(ParkedMessage.released_at).is_(None))
        .values(attempts=col(ParkedMessage.attempts) + 1)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(ParkedMessage, parked_id, populate_existing=True)
