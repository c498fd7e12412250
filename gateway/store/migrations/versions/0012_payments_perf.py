"""Payments performance: room on the invoice table's pages for its payment-state updates.

Receivables rewrites an invoice's ``paid_amount`` and ``payment_status`` whenever money is allocated to it (a
bank file's import updates thousands at once). Neither column is indexed, so PostgreSQL can update the row in
place on its own page (a HOT update) — but only when the page has room for the new row version; on a page
filled to the brim every update writes a new entry into each of the invoice table's eleven indexes, about ten
times the work. A fill factor leaves that room on the pages written from now on (existing pages keep their
layout until rewritten; ``VACUUM FULL invoice`` repacks them with the room). SQLite has no such setting.

Revision ID: 0012_payments_perf
Revises: 0011_billing_perf
Create Date: 2026-12-07 23:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0012_payments_perf"
down_revision = '0011_billing_perf'
branch_labels = None
depends_on = None

INVOICE_FILLFACTOR = 50  # percent of each page filled by inserts (default 100): room for a new version of each row


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE invoice SET (fillfactor = {INVOICE_FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE invoice RESET (fillfactor)")
