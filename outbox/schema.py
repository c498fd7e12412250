"""Tables of the outbox: messages, their deliveries to each consumer, subscriptions, the inbox and the archive.

A message is written once (`outbox_message`); every consumer subscribed to its topic gets its own delivery row
(`outbox_delivery`) with its own state, attempts, backoff, lease and error, so consumers of one topic never
wait for each other. `outbox_subscription` says which consumers a topic has: enqueue copies it into delivery
rows in the writer's transaction.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from outbox.types import UTCDateTime

metadata = MetaData()

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_ID = BigInteger().with_variant(Integer(), "sqlite")

# States a delivery waits in; literal SQL so that SQLite can prove a query implies a partial index's condition
# (a bound parameter proves nothing to its planner).
OPEN_STATES_SQL = "state IN ('pending', 'processing')"
UNFINISHED_STATES_SQL = "state IN ('pending', 'processing', 'dead')"

outbox_message = Table(
    "outbox_message",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("message_id", String(64), nullable=False, unique=True),
    Column("topic", String(100), nullable=False),
    Column("key", String(200), nullable=True),
    Column("payload", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_outbox_message_created_at", "created_at"),
)

outbox_subscription = Table(
    "outbox_subscription",
    metadata,
    Column("consumer", String(100), nullable=False),
    Column("topic", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("consumer", name="pk_outbox_subscription"),
    Index("ix_outbox_subscription_topic", "topic"),
)

outbox_delivery = Table(
    "outbox_delivery",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("message_pk", _ID, ForeignKey("outbox_message.id", name="fk_outbox_delivery_message",
                                         ondelete="CASCADE"), nullable=False),
    Column("consumer", String(100), nullable=False),
    Column("key", String(200), nullable=True),  # the message's, copied: per-key order is decided per consumer
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("calls", Integer, nullable=False),  # external calls started (a retry knows one may have landed)
    Column("next_attempt_at", UTCDateTime, nullable=False),  # due time; while claimed, the lease end
    Column("lease_owner", String(100), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("processed_at", UTCDateTime, nullable=True),
    UniqueConstraint("message_pk", "consumer", name="uq_outbox_delivery_message_consumer"),
    # The claim: due rows, oldest first, whichever consumer (so no consumer's backlog starves another's); the
    # worker's consumers are filtered on the way. A claimed row's next_attempt_at is its lease end.
    Index("ix_outbox_delivery_due", "next_attempt_at", "id",
          sqlite_where=text(OPEN_STATES_SQL), postgresql_where=text(OPEN_STATES_SQL)),
    # Per-key order: "is an earlier message of this key still unfinished for this consumer?"
    Index("ix_outbox_delivery_key_order", "consumer", "key", "message_pk",
          sqlite_where=text(UNFINISHED_STATES_SQL), postgresql_where=text(UNFINISHED_STATES_SQL)),
)

# Processed messages moved out of the hot tables by retention, when archiving is chosen over deleting.
outbox_archive = Table(
    "outbox_archive",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("message_id", String(64), nullable=False),
    Column("topic", String(100), nullable=False),
    Column("key", String(200), nullable=True),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("processed_at", UTCDateTime, nullable=True),
    Column("archived_at", UTCDateTime, nullable=False),
)

# The inbox: one row per (consumer, message) processed, written in the handler's own transaction.
outbox_inbox = Table(
    "outbox_inbox",
    metadata,
    Column("consumer", String(100), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("processed_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("consumer", "message_id", name="pk_outbox_inbox"),
    Index("ix_outbox_inbox_processed_at", "processed_at"),
)
