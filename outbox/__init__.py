"""A generic transactional outbox and inbox with several consumers per topic.

Writers call :func:`enqueue` inside their own transaction: it writes the message and one delivery row per
consumer the database subscribes to the topic (`outbox.subscriptions`), so a message and its deliveries exist
exactly when the change that caused them was committed, and no writer can leave a consumer out. Each delivery
has its own state, attempts, backoff, lease and dead letter: a failing consumer retries alone. Workers claim
due deliveries under a lease, in order per (consumer, key), and run the consumer's handler either inside a
transaction that also records the message in the consumer's inbox and marks the delivery done, or, for side
effects outside the database, as an external call between two short transactions (`outbox.external`).
Leases and due times follow the database's clock (`outbox.clock`). The package knows nothing of the
application that uses it.
"""

from outbox.clock import Clock, DatabaseClock, ManualClock
from outbox.core import (
    DEAD,
    DISCARDED,
    DONE,
    PENDING,
    PROCESSING,
    NoConsumerError,
    OutboxMessage,
    OutboxSettings,
    enqueue,
    enqueue_many,
    enqueue_select,
)
from outbox.external import ExternalCall, PermanentFailure
from outbox.registry import HandlerRegistry
from outbox.schema import metadata

__all__ = [
    "DEAD",
    "DISCARDED",
    "DONE",
    "PENDING",
    "PROCESSING",
    "Clock",
    "DatabaseClock",
    "ExternalCall",
    "HandlerRegistry",
    "ManualClock",
    "NoConsumerError",
    "OutboxMessage",
    "OutboxSettings",
    "PermanentFailure",
    "enqueue",
    "enqueue_many",
    "enqueue_select",
    "metadata",
]
