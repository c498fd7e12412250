"""Enqueueing inside the caller's transaction, and the shape of a claimed message."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from outbox.bulk import insert_rows
from outbox.schema import outbox_message
from outbox.types import utcnow

PENDING = "pending"
PROCESSING = "processing"
DONE = "done"
DEAD = "dead"


@dataclass(frozen=True)
class OutboxSettings:
    """Tunables of delivery. Defaults suit the embedded demo; production sets them from configuration."""

    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 8
    backoff_base: timedelta = timedelta(seconds=2)
    backoff_max: timedelta = timedelta(minutes=30)
    batch_size: int = 50
    idle_sleep: timedelta = timedelta(seconds=0.5)
    idle_sleep_max: timedelta = timedelta(seconds=5)
    jitter: float = 0.2

    def backoff(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        """Delay before the next attempt after `attempts` failed ones: exponential, capped, with jitter."""
        base = self.backoff_base.total_seconds() * (2 ** max(attempts - 1, 0))
        capped = min(base, self.backoff_max.total_seconds())
        spread = (rng or random).uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else 1.0
        return timedelta(seconds=capped * spread)


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    message_id: str
    topic: str
    key: str | None
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    created_at: datetime
    lease_owner: str | None = None
    lease_until: datetime | None = None
    last_error: str | None = field(default=None, repr=False)


_DEFAULTS = OutboxSettings()


def enqueue(
    session: Session,
    topic: str,
    payload: dict[str, Any],
    *,
    key: str | None = None,
    message_id: str | None = None,
    max_attempts: int | None = None,
    not_before: datetime | None = None,
    settings: OutboxSettings | None = None,
) -> str:
    """Write an outbox row in the caller's open transaction and return its message id.

    Nothing is sent here: the row becomes visible to workers only when the caller commits, and disappears
    with a rollback, so the state change and the message can never disagree.
    """
    (mid,) = enqueue_many(session, topic, [(payload, key)], max_attempts=max_attempts, not_before=not_before,
                          settings=settings, message_ids=[message_id] if message_id else None)
    return mid


def enqueue_many(
    session: Session,
    topic: str,
    items: Sequence[tuple[dict[str, Any], str | None]],
    *,
    max_attempts: int | None = None,
    not_before: datetime | None = None,
    settings: OutboxSettings | None = None,
    message_ids: Sequence[str] | None = None,
) -> list[str]:
    """Like :func:`enqueue` for several (payload, key) pairs of one topic, in one statement; ids in order."""
    now = utcnow()
    mids = list(message_ids) if message_ids else [str(uuid.uuid4()) for _ in items]
    attempts = max_attempts or (settings or _DEFAULTS).max_attempts
    rows = [
        {
            "message_id": mid,
            "topic": topic,
            "key": key,
            "payload": payload,
            "state": PENDING,
            "attempts": 0,
            "max_attempts": attempts,
            "created_at": now,
            "next_attempt_at": not_before or now,
        }
        for mid, (payload, key) in zip(mids, items, strict=True)
    ]
    insert_rows(session, outbox_message, rows)
    return mids
