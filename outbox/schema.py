"""Tables of the outbox, the inbox and the archive of processed messages."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

from outbox.types import UTCDateTime

metadata = MetaData()

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_ID = BigInteger().with_variant(Integer(), "sqlite")


def _message_columns() -> list[Column[object]]:
    return [
        Column("id", _ID, primary_key=True, autoincrement=True),
        Column("message_id", String(64), nullable=False, unique=True),
        Column("topic", String(100), nullable=False),
        Column("key", String(200), nullable=True),
        Column("payload", JSON, nullable=False),
        Column("state", String(16), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("max_attempts", Integer, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("next_attempt_at", UTCDateTime, nullable=False),
        Column("lease_owner", String(100), nullable=True),
        Column("lease_until", UTCDateTime, nullable=True),
        Column("last_error", Text, nullable=True),
        Column("processed_at", UTCDateTime, nullable=True),
    ]


outbox_message = Table(
    "outbox_message",
    metadata,
    *_message_columns(),
    Index(
        "ix_outbox_message_due",
        "next_attempt_at",
        "id",
        sqlite_where=text("state IN ('pending', 'processing')"),
        postgresql_where=text("state IN ('pending', 'processing')"),
    ),
    Index("ix_outbox_message_topic_state", "topic", "state"),
)

# Processed rows moved out of the hot table by retention, when archiving is chosen over deleting.
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
