"""The transactional outbox, its archive and the inbox.

Revision ID: 0001_outbox
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_outbox"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "outbox_message",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("key", sa.String(200), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("processed_at", TS, nullable=True),
        sa.UniqueConstraint("message_id", name="uq_outbox_message_message_id"),
    )
    due = sa.text("state IN ('pending', 'processing')")
    op.create_index(
        "ix_outbox_message_due", "outbox_message", ["next_attempt_at", "id"], sqlite_where=due, postgresql_where=due
    )
    op.create_index("ix_outbox_message_topic_state", "outbox_message", ["topic", "state"])
    op.create_table(
        "outbox_archive",
        sa.Column("id", ID, primary_key=True),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("key", sa.String(200), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("processed_at", TS, nullable=True),
        sa.Column("archived_at", TS, nullable=False),
    )
    op.create_table(
        "outbox_inbox",
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("processed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("consumer", "message_id", name="pk_outbox_inbox"),
    )
    op.create_index("ix_outbox_inbox_processed_at", "outbox_inbox", ["processed_at"])


def downgrade() -> None:
    op.drop_table("outbox_inbox")
    op.drop_table("outbox_archive")
    op.drop_index("ix_outbox_message_topic_state", "outbox_message")
    op.drop_index("ix_outbox_message_due", "outbox_message")
    op.drop_table("outbox_message")
