"""Outbox fan-out: deliveries per (message, consumer), subscriptions, per-key order

Revision ID: 0004_outbox_fanout
Revises: 0003_rating
Create Date: 2026-11-28

`outbox_message` keeps what a message is (id, topic, key, payload, created_at); what each consumer did with it
moves to `outbox_delivery`, one row per (message, consumer). `outbox_subscription` lists the consumers of each
topic; `gateway migrate` fills it from `gateway/events.py` after the migrations.

Existing messages get one delivery for the consumer that handled their topic until now, with their state,
attempts, schedule, lease and error. Messages of topics that had no consumer (masterdata.*,
outbound.acknowledged) get none: nothing ever waited for them; they stay until retention removes them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_outbox_fanout'
down_revision = '0003_rating'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
OPEN = sa.text("state IN ('pending', 'processing')")
UNFINISHED = sa.text("state IN ('pending', 'processing', 'dead')")

# The consumer of each topic before this revision (gateway/bootstrap.py, gateway/outbound.py,
# gateway/rating/handlers.py at 0003): the names stay, so their inbox rows keep deduplicating.
FORMER_CONSUMERS = {
    "gateway.release_parked": "gateway.parked",
    "datahub.send": "gateway.datahub_send",
    "metering.received": "rating.rerate-on-metering",
    "prices.imported": "rating.rerate-on-prices",
    "rating.rerate": "rating.rerate-period",
}
_STATE_COLUMNS = ("state", "attempts", "max_attempts", "next_attempt_at", "lease_owner", "lease_until",
                  "last_error", "processed_at")


def _delivery_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("key", sa.String(200), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("processed_at", TS, nullable=True),
    ]


def upgrade() -> None:
    # The deliveries of existing messages are collected first: outbox_message is rebuilt below (SQLite copies
    # a table to drop columns), which must happen before anything references it.
    op.create_table("outbox_delivery_migration", sa.Column("message_pk", ID, nullable=False), *_delivery_columns())
    consumer = sa.case(*((sa.column("topic") == topic, name) for topic, name in FORMER_CONSUMERS.items()))
    calls = sa.case((sa.column("topic") == "datahub.send", sa.column("attempts")), else_=0)
    names = ["message_pk", "consumer", "key", "state", "attempts", "max_attempts", "calls", "next_attempt_at",
             "lease_owner", "lease_until", "last_error", "processed_at"]
    old = sa.table("outbox_message", *(sa.column(c) for c in ("id", "topic", "key", *_STATE_COLUMNS)))
    op.execute(sa.table("outbox_delivery_migration", *(sa.column(n) for n in names)).insert().from_select(
        names,
        sa.select(old.c.id, consumer, old.c.key, old.c.state, old.c.attempts, old.c.max_attempts, calls,
                  old.c.next_attempt_at, old.c.lease_owner, old.c.lease_until, old.c.last_error, old.c.processed_at)
        .where(old.c.topic.in_(list(FORMER_CONSUMERS))),
    ))

    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_message_due", sqlite_where=OPEN, postgresql_where=OPEN)
        batch_op.drop_index("ix_outbox_message_topic_state")
        for column in _STATE_COLUMNS:
            batch_op.drop_column(column)
        batch_op.create_index("ix_outbox_message_created_at", ["created_at"], unique=False)

    op.create_table(
        "outbox_subscription",
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("consumer", name="pk_outbox_subscription"),
    )
    op.create_index("ix_outbox_subscription_topic", "outbox_subscription", ["topic"])
    op.create_table(
        "outbox_delivery",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("message_pk", ID, nullable=False),
        *_delivery_columns(),
        sa.ForeignKeyConstraint(["message_pk"], ["outbox_message.id"], name="fk_outbox_delivery_message",
                                ondelete="CASCADE"),
        sa.UniqueConstraint("message_pk", "consumer", name="uq_outbox_delivery_message_consumer"),
    )
    op.create_index("ix_outbox_delivery_due", "outbox_delivery", ["next_attempt_at", "id"],
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index("ix_outbox_delivery_key_order", "outbox_delivery", ["consumer", "key", "message_pk"],
                    sqlite_where=UNFINISHED, postgresql_where=UNFINISHED)
    op.execute(
        f"INSERT INTO outbox_delivery ({', '.join(names)}) "
        f"SELECT {', '.join(names)} FROM outbox_delivery_migration ORDER BY message_pk"
    )
    op.drop_table("outbox_delivery_migration")


def downgrade() -> None:
    """Back to one state per message: each message takes its first delivery's state (discarded as done);
    messages without a delivery come back as done."""
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_message_created_at")
        batch_op.add_column(sa.Column("state", sa.String(16), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_attempts", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", TS, nullable=True))
        batch_op.add_column(sa.Column("lease_owner", sa.String(100), nullable=True))
        batch_op.add_column(sa.Column("lease_until", TS, nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("processed_at", TS, nullable=True))
    first = ("(SELECT d.{column} FROM outbox_delivery d WHERE d.message_pk = outbox_message.id "
             "ORDER BY d.id LIMIT 1)")
    assignments = ", ".join(f"{c} = {first.format(column=c)}" for c in _STATE_COLUMNS)
    op.execute(f"UPDATE outbox_message SET {assignments}")
    op.execute("UPDATE outbox_message SET state = 'done' WHERE state IS NULL OR state = 'discarded'")
    op.execute("UPDATE outbox_message SET attempts = 0 WHERE attempts IS NULL")
    op.execute("UPDATE outbox_message SET max_attempts = 8 WHERE max_attempts IS NULL")
    op.execute("UPDATE outbox_message SET next_attempt_at = created_at WHERE next_attempt_at IS NULL")
    op.drop_table("outbox_delivery")
    op.drop_index("ix_outbox_subscription_topic", "outbox_subscription")
    op.drop_table("outbox_subscription")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        for column in ("state", "attempts", "max_attempts", "next_attempt_at"):
            batch_op.alter_column(column, nullable=False)
        batch_op.create_index("ix_outbox_message_due", ["next_attempt_at", "id"], sqlite_where=OPEN,
                              postgresql_where=OPEN)
        batch_op.create_index("ix_outbox_message_topic_state", ["topic", "state"])
