"""Rating: spot prices, catalogue versions, product assignments, rated periods

Revision ID: 0003_rating
Revises: 0002_gateway_core
Create Date: 2026-11-27 14:56:17.111606
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_rating'
down_revision = '0002_gateway_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('catalogue_version',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('catalogue_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalogue_version_sha256'), ['sha256'], unique=False)

    op.create_table('product_assignment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('accounting_point', sa.String(length=18), nullable=False),
    sa.Column('product_code', sa.String(length=100), nullable=False),
    sa.Column('segment', sa.String(length=20), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('main_fuse', sa.String(length=40), nullable=True),
    sa.Column('contracted_flow_m3h', sa.String(length=30), nullable=True),
    sa.Column('contracted_power_kw', sa.String(length=30), nullable=True),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('product_assignment', schema=None) as batch_op:
        batch_op.create_index('ix_product_assignment_point_from', ['accounting_point', 'valid_from'], unique=False)

    op.create_table('rating_result',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('accounting_point', sa.String(length=18), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('delta', sa.JSON(), nullable=False),
    sa.Column('total', sa.String(length=30), nullable=False),
    sa.Column('delta_total', sa.String(length=30), nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('catalogue_version_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('cause', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('accounting_point', 'period_start', 'period_end', 'revision', name='uq_rating_result_revision')
    )
    with op.batch_alter_table('rating_result', schema=None) as batch_op:
        batch_op.create_index('ix_rating_result_point_start', ['accounting_point', 'period_start'], unique=False)

    op.create_table('spot_price',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('zone', sa.String(length=20), nullable=False),
    sa.Column('resolution_minutes', sa.Integer(), nullable=False),
    sa.Column('interval_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('price_milli_eur_per_mwh', sa.BigInteger(), nullable=False),
    sa.Column('import_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('zone', 'resolution_minutes', 'interval_start', 'version', name='uq_spot_price_version')
    )
    with op.batch_alter_table('spot_price', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spot_price_import_id'), ['import_id'], unique=False)
        batch_op.create_index('ix_spot_price_zone_start', ['zone', 'interval_start'], unique=False)

    op.create_table('spot_price_import',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('format', sa.String(length=20), nullable=False),
    sa.Column('document_id', sa.String(length=100), nullable=True),
    sa.Column('document_revision', sa.Integer(), nullable=True),
    sa.Column('intervals', sa.Integer(), nullable=False),
    sa.Column('new_intervals', sa.Integer(), nullable=False),
    sa.Column('changed_intervals', sa.Integer(), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('spot_price_import', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spot_price_import_sha256'), ['sha256'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('spot_price_import', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spot_price_import_sha256'))

    op.drop_table('spot_price_import')
    with op.batch_alter_table('spot_price', schema=None) as batch_op:
        batch_op.drop_index('ix_spot_price_zone_start')
        batch_op.drop_index(batch_op.f('ix_spot_price_import_id'))

    op.drop_table('spot_price')
    with op.batch_alter_table('rating_result', schema=None) as batch_op:
        batch_op.drop_index('ix_rating_result_point_start')

    op.drop_table('rating_result')
    with op.batch_alter_table('product_assignment', schema=None) as batch_op:
        batch_op.drop_index('ix_product_assignment_point_from')

    op.drop_table('product_assignment')
    with op.batch_alter_table('catalogue_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalogue_version_sha256'))

    op.drop_table('catalogue_version')
