"""Billing run speed: the stored Finvoice and document JSON of an invoice compressed with LZ4 on PostgreSQL.

Every invoice stores its Finvoice XML (about 6 kB) and its document JSON (about 3 kB). PostgreSQL compresses
values that large before storing them, by default with pglz: in the billing benchmark the server spent about
0.4 ms per invoice on that, as long as the rest of the invoice's storing. LZ4 (PostgreSQL 14 and later, when
the server is built with it, as the Debian and official packages are) compresses the same values several
times faster and about as small. Only new values are compressed the new way; existing ones stay readable.
SQLite stores values as they are: nothing to do there.

Revision ID: 0011_billing_perf
Revises: 0010_support2
Create Date: 2026-12-07 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_billing_perf"
down_revision = '0010_support2'
branch_labels = None
depends_on = None

COLUMNS = [("invoice", "finvoice"), ("invoice", "document")]


def _lz4_available(bind: sa.engine.Connection) -> bool:
    if int(bind.execute(sa.text("SHOW server_version_num")).scalar_one()) < 140000:
        return False
    # pg_settings lists the methods default_toast_compression accepts: lz4 only in servers built with it.
    values = bind.execute(sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
                          ).scalar_one_or_none()
    return values is not None and "lz4" in values


def _set(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not _lz4_available(bind):
        return
    for table, column in COLUMNS:
        op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET COMPRESSION {method}')


def upgrade() -> None:
    _set("lz4")


def downgrade() -> None:
    _set("pglz")
