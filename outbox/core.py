"""Enqueueing inside the caller's transaction, and the shape of a claimed delivery."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Integer, Select, String, any_, bindparam, cast, func, insert, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType, TypeEngine

from outbox.bulk import insert_rows, pg_array_literal
from outbox.clock import DATABASE_CLOCK, Clock
from outbox.schema import outbox_delivery, outbox_message, outbox_subscription
from outbox.types import UTCDateTime, utcnow

# Delivery states. `pending` waits for its due time, `processing` is leased to a worker, `done` took effect,
# `dead` exhausted its attempts (and holds back later messages of its key for its consumer), `discarded` was
# given up by an operator (or its consumer was removed) and holds nothing back.
PENDING = "pending"
PROCESSING = "processing"
DONE = "done"
DEAD = "dead"
DISCARDED = "discarded"

_IN_CLAUSE = 500  # message ids per statement when deliveries are created for many messages
_ARRAY_CHUNK = 10_000  # the same on PostgreSQL, where they travel as one array


class NoConsumerError(LookupError):
    """A message was enqueued on a topic no consumer is subscribed to: nobody would ever handle it."""


@dataclass(frozen=True)
class OutboxSettings:
    """Tunables of delivery. Defaults suit the embedded demo; production sets them from configuration.

    `lease` is how long a claimed delivery stays with its worker without a sign of life: a killed worker's
    deliveries are claimable again after it. External calls renew it every `heartbeat` (default a quarter
    of the lease) while they run, and a worker refuses to serve an external call that can outlast it.
    """

    lease: timedelta = timedelta(seconds=120)
    max_attempts: int = 8
    backoff_base: timedelta = timedelta(seconds=2)
    backoff_max: timedelta = timedelta(minutes=30)
    batch_size: int = 50
    idle_sleep: timedelta = timedelta(seconds=0.5)
    idle_sleep_max: timedelta = timedelta(seconds=5)
    jitter: float = 0.2
    heartbeat: timedelta | None = None

    @property
    def heartbeat_interval(self) -> timedelta:
        return self.heartbeat if self.heartbeat is not None else self.lease / 4

    def backoff(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        """Delay before the next attempt after `attempts` failed ones: exponential, capped, with jitter."""
        base = self.backoff_base.total_seconds() * (2 ** max(attempts - 1, 0))
        capped = min(base, self.backoff_max.total_seconds())
        spread = (rng or random).uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else 1.0
        return timedelta(seconds=capped * spread)


@dataclass(frozen=True)
class OutboxMessage:
    """One delivery as a handler sees it: the message (id, topic, key, payload) and this consumer's state.

    `id` is the delivery's row id (what `gateway outbox replay|discard` take); `attempts` counts this
    consumer's attempts, this one included; `calls` counts external calls started for it (> 1: an earlier
    call may have reached the far side)."""

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
    consumer: str = ""
    calls: int = 0


_DEFAULTS = OutboxSettings()


def enqueue(
    session: Session,
    topic: str,
    payload: Mapping[str, Any],
    *,
    key: str | None = None,
    message_id: str | None = None,
    max_attempts: int | None = None,
    not_before: datetime | None = None,
    settings: OutboxSettings | None = None,
    clock: Clock | None = None,
) -> str:
    """Write a message and one delivery per subscribed consumer in the caller's open transaction; returns the
    message id.

    Nothing is sent here: the rows become visible to workers only when the caller commits, and disappear
    with a rollback, so the state change and the message can never disagree. Messages with the same `key`
    are handled in enqueue order by each consumer, one at a time; `key=None` means no order. Raises
    :class:`NoConsumerError` (the caller's transaction must then roll back) when the topic has no consumer.
    """
    (mid,) = enqueue_many(session, topic, [(payload, key)], max_attempts=max_attempts, not_before=not_before,
                          settings=settings, message_ids=[message_id] if message_id else None, clock=clock)
    return mid


def enqueue_many(
    session: Session,
    topic: str,
    items: Sequence[tuple[Mapping[str, Any], str | None]],
    *,
    max_attempts: int | None = None,
    not_before: datetime | None = None,
    settings: OutboxSettings | None = None,
    message_ids: Sequence[str] | None = None,
    clock: Clock | None = None,
) -> list[str]:
    """Like :func:`enqueue` for several (payload, key) pairs of one topic; ids in order. The messages go in one
    bulk insert, their deliveries in one INSERT … SELECT from the subscriptions per 500 messages."""
    if not items:
        return []
    now = utcnow()  # the writer's clock: when the message was written, for people; due times are below
    mids = list(message_ids) if message_ids else [str(uuid.uuid4()) for _ in items]
    rows = [
        {"message_id": mid, "topic": topic, "key": key, "payload": payload, "created_at": now}
        for mid, (payload, key) in zip(mids, items, strict=True)
    ]
    insert_rows(session, outbox_message, rows)
    _deliver(session, topic, outbox_message.c.message_id, String(), mids, max_attempts=max_attempts,
             not_before=not_before, settings=settings, clock=clock)
    return mids


def enqueue_select(
    session: Session,
    topic: str,
    rows: Select[Any],
    *,
    max_attempts: int | None = None,
    not_before: datetime | None = None,
    settings: OutboxSettings | None = None,
    clock: Clock | None = None,
) -> int:
    """Like :func:`enqueue_many` for messages made by the database from rows the caller's transaction holds:
    `rows` selects the columns ``payload`` (a JSON expression), ``key`` and ``position`` (the enqueue order).
    Message ids are random UUIDs made there too, so thousands of messages about just-written rows cost no
    Python per message. Returns how many messages were written."""
    now = utcnow()
    source = rows.subquery()
    message = select(_random_uuid(session.get_bind().dialect.name), literal(topic, String()), source.c.key,
                     source.c.payload, literal(now, UTCDateTime())).select_from(source).order_by(source.c.position)
    ids = list(session.execute(insert(outbox_message).from_select(
        ["message_id", "topic", "key", "payload", "created_at"], message).returning(outbox_message.c.id)).scalars())
    if ids:
        _deliver(session, topic, outbox_message.c.id, BigInteger(), sorted(ids), max_attempts=max_attempts,
                 not_before=not_before, settings=settings, clock=clock)
    return len(ids)


def _random_uuid(dialect: str) -> ColumnElement[str]:
    """A random (version 4) UUID in the database's SQL, as text."""
    if dialect == "postgresql":
        return cast(func.gen_random_uuid(), String())
    hexes = [func.lower(func.hex(func.randomblob(n))) for n in (4, 2, 2, 2, 6)]  # SQLite
    variant = func.substr("89ab", 1 + func.abs(func.random()) % 4, 1)
    return (hexes[0] + "-" + hexes[1] + "-4" + func.substr(hexes[2], 2) + "-" + variant + func.substr(hexes[3], 2)
            + "-" + hexes[4])


def _deliver(
    session: Session,
    topic: str,
    column: ColumnElement[Any],
    element_type: TypeEngine[Any],
    values: Sequence[Any],
    *,
    max_attempts: int | None,
    not_before: datetime | None,
    settings: OutboxSettings | None,
    clock: Clock | None,
) -> None:
    """One delivery per subscribed consumer for the messages whose `column` is one of `values`."""
    attempts = max_attempts or (settings or _DEFAULTS).max_attempts
    connection = session.connection()
    due: ColumnElement[datetime]
    if not_before is not None:
        due = literal(not_before, UTCDateTime())
    else:
        the_clock = clock or DATABASE_CLOCK
        server_now = the_clock.in_sql(connection.dialect)
        due = server_now if server_now is not None else literal(the_clock.now(connection), UTCDateTime())
    m, s = outbox_message.c, outbox_subscription.c
    # PostgreSQL takes the ids as one array parameter, so a chunk can be large; elsewhere one bind parameter each.
    postgresql = connection.dialect.name == "postgresql"
    size = _ARRAY_CHUNK if postgresql else _IN_CLAUSE
    for start in range(0, len(values), size):
        chunk = values[start:start + size]
        # An untyped text parameter cast to the array: see gateway.store.queries.pg_in_array.
        wanted = (column == any_(cast(bindparam(None, pg_array_literal(chunk), type_=NullType()),
                                      ARRAY(element_type))) if postgresql else column.in_(chunk))
        created = session.execute(
            insert(outbox_delivery).from_select(
                ["message_pk", "consumer", "key", "state", "attempts", "max_attempts", "calls", "next_attempt_at"],
                select(m.id, s.consumer, m.key, literal(PENDING, String()), literal(0, Integer()),
                       literal(attempts, Integer()), literal(0, Integer()), due)
                .select_from(outbox_message.join(outbox_subscription, s.topic == m.topic))
                .where(wanted)
                .order_by(m.id, s.consumer),
            ).execution_options(preserve_rowcount=True)  # an INSERT's rowcount is kept only when asked for
        )
        if created.rowcount == 0:  # type: ignore[attr-defined]
            raise NoConsumerError(
                f"no consumer is subscribed to outbox topic {topic!r}: declare one (and migrate, which writes "
                "the subscriptions), or do not emit the topic"
            )
