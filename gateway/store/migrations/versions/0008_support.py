"""Support: users and API clients, access audit, message events, kept secrets, message-log search indexes.

Revision ID: 0008_support
Revises: 0007_invoicing
Create Date: 2026-12-07 19:29:57
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_support"
down_revision = "0007_invoicing"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)

# (table, index, columns): the message log's searches, each a range scan ending in (time, id) for keyset pages.
SEARCH_INDEXES = [
    ("message_registry", "ix_message_registry_message_id", ["message_id"]),
    ("message_registry", "ix_message_registry_sender_time", ["sender_gln", "received_at", "id"]),
    ("message_registry", "ix_message_registry_status_time", ["status", "received_at", "id"]),
    ("message_registry", "ix_message_registry_time_id", ["received_at", "id"]),
    ("message_registry", "ix_message_registry_type_time", ["document_type", "received_at", "id"]),
    ("outbound_message", "ix_outbound_message_recipient_time", ["recipient_gln", "created_at"]),
    ("outbound_message", "ix_outbound_message_time_id", ["created_at", "id"]),
    ("spot_price_import", "ix_spot_price_import_time", ["imported_at"]),
    ("transaction_registry", "ix_transaction_registry_point_message", ["accounting_point", "message_pk"]),
    ("transaction_registry", "ix_transaction_registry_transaction_id", ["transaction_id"]),
]


def upgrade() -> None:
    op.create_table(
        "api_user",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_api_user_name"),
        sa.UniqueConstraint("token_sha256", name="uq_api_user_token_sha256"),
    )
    op.create_table(
        "access_audit",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject_type", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_access_audit_at", "access_audit", ["at"])
    op.create_index("ix_access_audit_subject", "access_audit", ["subject_type", "subject_id"])
    op.create_table(
        "app_secret",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "message_event",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("message_pk", ID, nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_message_event_message", "message_event", ["direction", "message_pk", "at"])
    for table, name, columns in SEARCH_INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for table, name, _ in reversed(SEARCH_INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index("ix_message_event_message", table_name="message_event")
    op.drop_table("message_event")
    op.drop_table("app_secret")
    op.drop_index("ix_access_audit_subject", table_name="access_audit")
    op.drop_index("ix_access_audit_at", table_name="access_audit")
    op.drop_table("access_audit")
    op.drop_table("api_user")
