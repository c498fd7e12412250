"""Handlers run by real worker processes in the crash and concurrency tests."""

from __future__ import annotations

import random
import time

from sqlalchemy import Column, Integer, MetaData, String, Table, text
from sqlalchemy.orm import Session

from outbox import HandlerRegistry, OutboxMessage

effects_metadata = MetaData()
effect = Table(
    "test_effect",
    effects_metadata,
    Column("message_id", String(64), primary_key=True),
    Column("applied", Integer, nullable=False),
)

_UPSERT = text(
    "INSERT INTO test_effect (message_id, applied) VALUES (:m, 1) "
    "ON CONFLICT (message_id) DO UPDATE SET applied = test_effect.applied + 1"
)


def _apply(session: Session, message: OutboxMessage) -> None:
    # Counting instead of inserting once: a second application would show as applied = 2, not as an error.
    session.execute(_UPSERT, {"m": message.message_id})


def slow_registry() -> HandlerRegistry:
    """Spends a few milliseconds after the write, so a SIGKILL often lands inside an open transaction."""

    def handler(session: Session, message: OutboxMessage) -> None:
        _apply(session, message)
        time.sleep(random.uniform(0.005, 0.015))

    registry = HandlerRegistry()
    registry.register("effect", handler, consumer="test-effect")
    return registry


def fast_registry() -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register("effect", _apply, consumer="test-effect")
    return registry


def noop_registry(topic: str, consumer: str) -> HandlerRegistry:
    """A consumer that does nothing: for tests about claiming and bookkeeping, not effects."""
    registry = HandlerRegistry()
    registry.register(topic, lambda session, message: None, consumer=consumer)
    return registry
