"""Handlers run by real worker processes in the crash and concurrency tests, and their tables."""

from __future__ import annotations

import os
import random
import time
from datetime import timedelta
from functools import cache

from sqlalchemy import Column, Integer, MetaData, String, Table, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from outbox import ExternalCall, HandlerRegistry, OutboxMessage
from outbox.engine import make_engine

effects_metadata = MetaData()
effect = Table(
    "test_effect",
    effects_metadata,
    Column("message_id", String(64), primary_key=True),
    Column("applied", Integer, nullable=False),
)
# The far side of an external call: a service that dedupes on the message id, as Datahub and the payment
# provider do. `calls` counts how often the id arrived; `last_call` is the outbox's call number it came with.
far_side = Table(
    "test_far_side",
    effects_metadata,
    Column("message_id", String(64), primary_key=True),
    Column("calls", Integer, nullable=False),
    Column("last_call", Integer, nullable=False),
)

_UPSERT = text(
    "INSERT INTO test_effect (message_id, applied) VALUES (:m, 1) "
    "ON CONFLICT (message_id) DO UPDATE SET applied = test_effect.applied + 1"
)
_ARRIVE = text(
    "INSERT INTO test_far_side (message_id, calls, last_call) VALUES (:m, 1, :n) "
    "ON CONFLICT (message_id) DO UPDATE SET calls = test_far_side.calls + 1, last_call = :n"
)

FAR_SIDE_URL = "OUTBOX_TEST_FAR_SIDE_URL"  # where the far side keeps its records
FAR_SIDE_HANGS = "OUTBOX_TEST_FAR_SIDE_HANGS"  # "1": the far side never answers (the caller gets killed)


def apply_effect(session: Session, message: OutboxMessage) -> None:
    # Counting instead of inserting once: a second application would show as applied = 2, not as an error.
    session.execute(_UPSERT, {"m": message.message_id})


def arrive(engine: Engine, message: OutboxMessage) -> None:
    """The far side receives the message (in its own "system": autocommit, no transaction of the caller's)."""
    with engine.begin() as conn:
        conn.execute(_ARRIVE, {"m": message.message_id, "n": message.calls})


def slow_registry() -> HandlerRegistry:
    """Spends a few milliseconds after the write, so a SIGKILL often lands inside an open transaction."""

    def handler(session: Session, message: OutboxMessage) -> None:
        apply_effect(session, message)
        time.sleep(random.uniform(0.005, 0.015))

    registry = HandlerRegistry()
    registry.register("effect", handler, consumer="test-effect")
    return registry


def fast_registry() -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register("effect", apply_effect, consumer="test-effect")
    return registry


@cache
def _far_side_engine(url: str) -> Engine:
    return make_engine(url)


def external_registry() -> HandlerRegistry:
    """Consumer `far-side` of topic `call`: an external call to the far side, recorded as an effect."""

    def call(request: str, message: OutboxMessage) -> str:
        arrive(_far_side_engine(os.environ[FAR_SIDE_URL]), message)
        if os.environ.get(FAR_SIDE_HANGS) == "1":
            time.sleep(3600)  # until the test kills this worker
        return request

    registry = HandlerRegistry()
    registry.register_external("call", ExternalCall(
        prepare=lambda session, message: message.message_id,
        call=call,
        record=lambda session, message, result: apply_effect(session, message),
        max_duration=timedelta(seconds=20),
    ), consumer="far-side")
    return registry


def noop_registry(topic: str, consumer: str) -> HandlerRegistry:
    """A consumer that does nothing: for tests about claiming and bookkeeping, not effects."""
    registry = HandlerRegistry()
    registry.register(topic, lambda session, message: None, consumer=consumer)
    return registry
