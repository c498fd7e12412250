"""Support, receivables side: webhook batches as received, and indexes for bank files and provider calls in the
message log and for the payment search.

Revision ID: 0013_support3
Revises: 0012_payments_perf
Create Date: 2026-12-07 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_support3"
down_revision = "0012_payments_perf"
branch_labels = None
depends_on = None

# (table, index, columns), as declared in gateway/store/support_tables.py (PAYMENT_INDEXES).
PAYMENT_INDEXES = [
    ("bank_file", "ix_bank_file_imported_id", ["imported_at", "id"]),
    ("provider_request", "ix_provider_request_created_id", ["created_at", "id"]),
    ("bank_entry", "ix_bank_entry_reference", ["reference"]),
]


def upgrade() -> None:
    op.create_table(
        "provider_webhook",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account", sa.String(length=50), nullable=True),
        sa.Column("batch_id", sa.String(length=100), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("unknown", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_provider_webhook_received", "provider_webhook", ["received_at", "id"])
    for table, name, columns in PAYMENT_INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for table, name, _ in reversed(PAYMENT_INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index("ix_provider_webhook_received", table_name="provider_webhook")
    op.drop_table("provider_webhook")
