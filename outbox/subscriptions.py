"""Which consumers each topic has, kept in the database so that every writer sees the same set.

`enqueue` creates one delivery per subscribed consumer from this table inside the writer's transaction: a
process cannot forget a consumer, whatever code it imported or however old it is, because it never holds the
list itself. The application declares its consumers once and writes them here when it migrates
(:func:`sync`); a worker refuses to start for a consumer that is not subscribed (:func:`missing`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from outbox.core import DEAD, DISCARDED, PENDING
from outbox.schema import outbox_delivery, outbox_subscription
from outbox.types import utcnow


@dataclass(frozen=True)
class SyncReport:
    added: tuple[str, ...]
    moved: tuple[str, ...]  # consumers now subscribed to another topic
    removed: tuple[str, ...]
    discarded: int  # undelivered deliveries of removed consumers, marked discarded


def subscribed(connection: Connection) -> dict[str, str]:
    """consumer → topic, as the database has it."""
    rows = connection.execute(select(outbox_subscription.c.consumer, outbox_subscription.c.topic)).all()
    return {consumer: topic for consumer, topic in rows}


def subscribe(connection: Connection, topic: str, consumer: str) -> None:
    """Add one subscription (or move `consumer` to `topic`); messages enqueued from now on reach it."""
    current = subscribed(connection).get(consumer)
    if current == topic:
        return
    if current is None:
        connection.execute(insert(outbox_subscription).values(consumer=consumer, topic=topic, created_at=utcnow()))
    else:
        connection.execute(update(outbox_subscription).where(outbox_subscription.c.consumer == consumer)
                           .values(topic=topic))


def sync(connection: Connection, declared: Mapping[str, str]) -> SyncReport:
    """Make the subscriptions exactly `declared` (consumer → topic), in the caller's transaction.

    A consumer no longer declared loses its subscription, and its deliveries still pending or dead are marked
    discarded (with the reason as their last error): nothing would ever handle them. Its history stays.
    """
    current = subscribed(connection)
    added = sorted(set(declared) - set(current))
    moved = sorted(c for c in set(declared) & set(current) if declared[c] != current[c])
    removed = sorted(set(current) - set(declared))
    for consumer in added + moved:
        subscribe(connection, declared[consumer], consumer)
    discarded = 0
    if removed:
        connection.execute(delete(outbox_subscription).where(outbox_subscription.c.consumer.in_(removed)))
        d = outbox_delivery.c
        result = connection.execute(
            update(outbox_delivery).where(d.consumer.in_(removed), d.state.in_([PENDING, DEAD]))
            .values(state=DISCARDED, lease_owner=None, lease_until=None,
                    last_error="the consumer was removed from the application's declaration")
        )
        discarded = int(result.rowcount)
    return SyncReport(tuple(added), tuple(moved), tuple(removed), discarded)


def missing(connection: Connection, consumers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (topic, consumer) pairs among `consumers` that the database does not subscribe."""
    current = subscribed(connection)
    return [(topic, consumer) for topic, consumer in consumers if current.get(consumer) != topic]
