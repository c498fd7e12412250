"""The gateway core: parties, raw archive, message and transaction registries, master data, metering store, queues.

Revision ID: 0002_gateway_core
Revises: 0001_outbox
Create Date: 2026-11-27 14:52:02.738724
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_gateway_core"
down_revision = "0001_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "accounting_point",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("gsrn", sa.String(length=18), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grid_area", sa.String(length=20), nullable=True),
        sa.Column("metering_method", sa.String(length=10), nullable=True),
        sa.Column("resolution", sa.String(length=10), nullable=True),
        sa.Column("main_fuse", sa.String(length=40), nullable=True),
        sa.Column("tax_category", sa.String(length=10), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.Column("message_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("accounting_point", schema=None) as batch_op:
        batch_op.create_index("ix_accounting_point_gsrn_valid_from", ["gsrn", "valid_from"], unique=False)

    op.create_table(
        "customer",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("customer_key", sa.String(length=100), nullable=False),
        sa.Column("accounting_point", sa.String(length=18), nullable=True),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("identification_type", sa.String(length=10), nullable=True),
        sa.Column("identification", sa.String(length=40), nullable=True),
        sa.Column("identification_masked", sa.String(length=40), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.Column("message_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_accounting_point"), ["accounting_point"], unique=False)
        batch_op.create_index(batch_op.f("ix_customer_customer_key"), ["customer_key"], unique=False)

    op.create_table(
        "message_registry",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("sender_gln", sa.String(length=13), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=True),
        sa.Column("document_type", sa.String(length=8), nullable=True),
        sa.Column("business_process", sa.String(length=20), nullable=True),
        sa.Column("raw_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=True),
        sa.Column("reason_code", sa.String(length=60), nullable=True),
        sa.Column("errors", sa.JSON(), nullable=True),
        sa.Column("transactions", sa.Integer(), nullable=False),
        sa.Column("ack_message_id", sa.String(length=36), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sender_gln", "message_id", name="uq_message_sender_message_id"),
    )
    with op.batch_alter_table("message_registry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_registry_raw_id"), ["raw_id"], unique=False)
        batch_op.create_index("ix_message_registry_received_at", ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_message_registry_status"), ["status"], unique=False)

    op.create_table(
        "metering_series",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("accounting_point", sa.String(length=18), nullable=False),
        sa.Column("product", sa.String(length=20), nullable=False),
        sa.Column("unit", sa.String(length=10), nullable=False),
        sa.Column("resolution", sa.String(length=10), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("positions", sa.Integer(), nullable=False),
        sa.Column("values", sa.LargeBinary(), nullable=False),
        sa.Column("quality", sa.LargeBinary(), nullable=False),
        sa.Column("transaction_id", sa.String(length=36), nullable=False),
        sa.Column("message_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "accounting_point",
            "product",
            "resolution",
            "period_start",
            "period_end",
            "version",
            name="uq_metering_series_version",
        ),
    )
    with op.batch_alter_table("metering_series", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_metering_series_message_pk"), ["message_pk"], unique=False)
        batch_op.create_index("ix_metering_series_point_period", ["accounting_point", "period_start"], unique=False)
        batch_op.create_index(batch_op.f("ix_metering_series_received_at"), ["received_at"], unique=False)

    op.create_table(
        "outbound_message",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("document_type", sa.String(length=8), nullable=False),
        sa.Column("recipient_gln", sa.String(length=13), nullable=False),
        sa.Column("accounting_point", sa.String(length=18), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("datahub_reference", sa.String(length=36), nullable=True),
        sa.Column("ack_reason_code", sa.String(length=10), nullable=True),
        sa.Column("ack_errors", sa.JSON(), nullable=True),
        sa.Column("resend_of", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("outbound_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbound_message_accounting_point"), ["accounting_point"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbound_message_status"), ["status"], unique=False)

    op.create_table(
        "parked_message",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("message_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("raw_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sender_gln", sa.String(length=13), nullable=False),
        sa.Column("waiting_for", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_pk"),
    )
    op.create_table(
        "party",
        sa.Column("gln", sa.String(length=13), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("own", sa.Boolean(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=True),
        sa.Column("cert_fingerprint", sa.String(length=128), nullable=True),
        sa.Column("acts_for", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("gln"),
    )
    with op.batch_alter_table("party", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_party_cert_fingerprint"), ["cert_fingerprint"], unique=False)
        batch_op.create_index(batch_op.f("ix_party_token_sha256"), ["token_sha256"], unique=False)

    op.create_table(
        "party_queue",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("recipient_gln", sa.String(length=13), nullable=False),
        sa.Column("reference", sa.String(length=36), nullable=False),
        sa.Column("document_type", sa.String(length=8), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dequeued_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    with op.batch_alter_table("party_queue", schema=None) as batch_op:
        batch_op.create_index("ix_party_queue_recipient_pending", ["recipient_gln", "dequeued_at", "id"], unique=False)

    op.create_table(
        "raw_message",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("authenticated_party", sa.String(length=13), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("raw_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_raw_message_received_at"), ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_raw_message_sha256"), ["sha256"], unique=False)

    op.create_table(
        "sales_agreement",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("accounting_point", sa.String(length=18), nullable=False),
        sa.Column("agreement_id", sa.String(length=100), nullable=True),
        sa.Column("supplier_gln", sa.String(length=13), nullable=True),
        sa.Column("start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("product_code", sa.String(length=100), nullable=True),
        sa.Column("invoicing_channel", sa.String(length=20), nullable=True),
        sa.Column("e_invoice_address", sa.JSON(), nullable=True),
        sa.Column("notice", sa.JSON(), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("message_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ended_by_message_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sales_agreement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sales_agreement_accounting_point"), ["accounting_point"], unique=False)
        batch_op.create_index(batch_op.f("ix_sales_agreement_agreement_id"), ["agreement_id"], unique=False)

    op.create_table(
        "transaction_registry",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("sender_gln", sa.String(length=13), nullable=False),
        sa.Column("transaction_id", sa.String(length=36), nullable=False),
        sa.Column("message_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("accounting_point", sa.String(length=18), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sender_gln", "transaction_id", name="uq_transaction_sender_transaction_id"),
    )
    with op.batch_alter_table("transaction_registry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transaction_registry_accounting_point"), ["accounting_point"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_transaction_registry_message_pk"), ["message_pk"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("transaction_registry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transaction_registry_message_pk"))
        batch_op.drop_index(batch_op.f("ix_transaction_registry_accounting_point"))

    op.drop_table("transaction_registry")
    with op.batch_alter_table("sales_agreement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sales_agreement_agreement_id"))
        batch_op.drop_index(batch_op.f("ix_sales_agreement_accounting_point"))

    op.drop_table("sales_agreement")
    with op.batch_alter_table("raw_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_raw_message_sha256"))
        batch_op.drop_index(batch_op.f("ix_raw_message_received_at"))

    op.drop_table("raw_message")
    with op.batch_alter_table("party_queue", schema=None) as batch_op:
        batch_op.drop_index("ix_party_queue_recipient_pending")

    op.drop_table("party_queue")
    with op.batch_alter_table("party", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_party_token_sha256"))
        batch_op.drop_index(batch_op.f("ix_party_cert_fingerprint"))

    op.drop_table("party")
    op.drop_table("parked_message")
    with op.batch_alter_table("outbound_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_message_status"))
        batch_op.drop_index(batch_op.f("ix_outbound_message_accounting_point"))

    op.drop_table("outbound_message")
    with op.batch_alter_table("metering_series", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metering_series_received_at"))
        batch_op.drop_index("ix_metering_series_point_period")
        batch_op.drop_index(batch_op.f("ix_metering_series_message_pk"))

    op.drop_table("metering_series")
    with op.batch_alter_table("message_registry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_registry_status"))
        batch_op.drop_index("ix_message_registry_received_at")
        batch_op.drop_index(batch_op.f("ix_message_registry_raw_id"))

    op.drop_table("message_registry")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_customer_key"))
        batch_op.drop_index(batch_op.f("ix_customer_accounting_point"))

    op.drop_table("customer")
    with op.batch_alter_table("accounting_point", schema=None) as batch_op:
        batch_op.drop_index("ix_accounting_point_gsrn_valid_from")

    op.drop_table("accounting_point")
