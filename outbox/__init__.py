"""A generic transactional outbox and inbox.

Writers call :func:`enqueue` inside their own transaction, so a message exists exactly when the change that
caused it was committed. Workers claim due rows under a lease, run the topic's handler in a transaction that
also records the message in the inbox and marks the row done, and back off durably on failure. The package
knows nothing about the application that uses it.
"""

from outbox.core import (
    DEAD,
    DONE,
    PENDING,
    PROCESSING,
    OutboxMessage,
    OutboxSettings,
    enqueue,
    enqueue_many,
)
from outbox.registry import HandlerRegistry
from outbox.schema import metadata

__all__ = [
    "DEAD",
    "DONE",
    "PENDING",
    "PROCESSING",
    "HandlerRegistry",
    "OutboxMessage",
    "OutboxSettings",
    "enqueue",
    "enqueue_many",
    "metadata",
]
