"""Support, invoicing side: indexes for invoices in the message log and the invoice search.

Revision ID: 0010_support2
Revises: 0009_receivables
Create Date: 2026-12-14 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0010_support2"
down_revision = '0009_receivables'
branch_labels = None
depends_on = None

# (table, index, columns), as declared in gateway/store/support_tables.py (INVOICE_INDEXES).
INVOICE_INDEXES = [
    ("invoice", "ix_invoice_released_id", ["released_at", "id"]),
    ("invoice", "ix_invoice_status_released", ["status", "released_at", "id"]),
    ("invoice", "ix_invoice_number", ["number"]),
    ("invoice", "ix_invoice_reference", ["reference"]),
    ("invoice", "ix_invoice_run", ["run_id"]),
]


def upgrade() -> None:
    for table, name, columns in INVOICE_INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for table, name, _ in reversed(INVOICE_INDEXES):
        op.drop_index(name, table_name=table)
