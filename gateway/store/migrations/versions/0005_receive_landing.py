"""Receive: landed pulled messages and their pull log, the payload's offset in an archived envelope, the error count

Revision ID: 0005_receive_landing
Revises: 0004_outbox_fanout
Create Date: 2026-12-07 19:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_receive_landing"
down_revision = '0004_outbox_fanout'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "landed_message",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("authenticated_party", sa.String(length=13), nullable=False),
        sa.Column("queue", sa.String(length=10), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("landed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "datahub_pull_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("queue", sa.String(length=10), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("datahub_pull_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_datahub_pull_log_reference"), ["reference"], unique=False)
        batch_op.create_index(batch_op.f("ix_datahub_pull_log_sha256"), ["sha256"], unique=False)
    with op.batch_alter_table("raw_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload_offset", sa.Integer(), nullable=True))
    with op.batch_alter_table("message_registry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_count", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("message_registry", schema=None) as batch_op:
        batch_op.drop_column("error_count")
    with op.batch_alter_table("raw_message", schema=None) as batch_op:
        batch_op.drop_column("payload_offset")
    op.drop_table("datahub_pull_log")
    op.drop_table("landed_message")
