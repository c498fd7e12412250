"""Invoicing: customers, number series, invoices and credit notes, billed periods, adjustments, runs

Revision ID: 0007_invoicing
Revises: 0005_receive_landing
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007_invoicing'
down_revision = '0005_receive_landing'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('billed_period',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('entity_id', sa.String(length=50), nullable=False),
    sa.Column('accounting_point', sa.String(length=18), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('invoice_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rating_result_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rating_revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entity_id', 'accounting_point', 'customer_id', 'period_start', name='uq_billed_period')
    )
    with op.batch_alter_table('billed_period', schema=None) as batch_op:
        batch_op.create_index('ix_billed_period_point', ['accounting_point', 'period_start', 'period_end'],
                              unique=False)

    op.create_table('billing_adjustment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entity_id', sa.String(length=50), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('amount', sa.String(length=30), nullable=False),
    sa.Column('vat_rate', sa.String(length=10), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('accounting_point', sa.String(length=18), nullable=True),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('rating_result_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('rating_revision', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('consumed_by_invoice_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('billing_adjustment', schema=None) as batch_op:
        batch_op.create_index('ix_billing_adjustment_pending', ['customer_id', 'entity_id', 'status'], unique=False)

    op.create_table('billing_customer',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_key', sa.String(length=120), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('customer_type', sa.String(length=20), nullable=False),
    sa.Column('business_id', sa.String(length=20), nullable=True),
    sa.Column('street', sa.String(length=200), nullable=True),
    sa.Column('postcode', sa.String(length=20), nullable=True),
    sa.Column('city', sa.String(length=100), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('language', sa.String(length=5), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('e_invoice_address', sa.String(length=100), nullable=True),
    sa.Column('e_invoice_operator', sa.String(length=35), nullable=True),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('customer_key', name='uq_billing_customer_key')
    )
    op.create_table('billing_run',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('entity_id', sa.String(length=50), nullable=True),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('invoice',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('entity_id', sa.String(length=50), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=True),
    sa.Column('sequence', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('payment_status', sa.String(length=20), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_type', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('invoice_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('reference', sa.String(length=20), nullable=False),
    sa.Column('reference_rf', sa.String(length=25), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('total_excl_vat', sa.String(length=30), nullable=False),
    sa.Column('total_vat', sa.String(length=30), nullable=False),
    sa.Column('total', sa.String(length=30), nullable=False),
    sa.Column('paid_amount', sa.String(length=30), nullable=False),
    sa.Column('original_invoice_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('final', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=True),
    sa.Column('barcode', sa.String(length=54), nullable=True),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('finvoice', sa.LargeBinary(), nullable=False),
    sa.Column('finvoice_sha256', sa.String(length=64), nullable=False),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entity_id', 'number', name='uq_invoice_entity_number')
    )
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.create_index('ix_invoice_customer_entity', ['customer_id', 'entity_id'], unique=False)
        batch_op.create_index('ix_invoice_entity_reference', ['entity_id', 'reference'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoice_original_invoice_id'), ['original_invoice_id'], unique=False)
        batch_op.create_index('ix_invoice_period', ['period_start', 'entity_id'], unique=False)

    op.create_table('invoice_line',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('invoice_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('accounting_point', sa.String(length=18), nullable=True),
    sa.Column('product_code', sa.String(length=100), nullable=True),
    sa.Column('component', sa.String(length=60), nullable=True),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('quantity', sa.String(length=40), nullable=True),
    sa.Column('unit', sa.String(length=10), nullable=True),
    sa.Column('unit_price', sa.String(length=30), nullable=True),
    sa.Column('amount', sa.String(length=30), nullable=False),
    sa.Column('vat_rate', sa.String(length=10), nullable=False),
    sa.Column('vat_kind', sa.String(length=30), nullable=True),
    sa.Column('tax_class', sa.String(length=10), nullable=True),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('rating_result_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('rating_revision', sa.Integer(), nullable=True),
    sa.Column('priced_line_index', sa.Integer(), nullable=True),
    sa.Column('adjustment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('credits_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('invoice_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_line_credits_line_id'), ['credits_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoice_line_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index('ix_invoice_line_point_period', ['accounting_point', 'period_start'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoice_line_rating_result_id'), ['rating_result_id'], unique=False)

    op.create_table('invoice_series',
    sa.Column('entity_id', sa.String(length=50), nullable=False),
    sa.Column('prefix', sa.String(length=19), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('next_sequence', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('entity_id')
    )
    with op.batch_alter_table('product_assignment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))

    with op.batch_alter_table('sales_agreement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_key', sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f('ix_sales_agreement_customer_key'), ['customer_key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sales_agreement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sales_agreement_customer_key'))
        batch_op.drop_column('customer_key')

    with op.batch_alter_table('product_assignment', schema=None) as batch_op:
        batch_op.drop_column('customer_id')

    op.drop_table('invoice_series')
    with op.batch_alter_table('invoice_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_line_rating_result_id'))
        batch_op.drop_index('ix_invoice_line_point_period')
        batch_op.drop_index(batch_op.f('ix_invoice_line_invoice_id'))
        batch_op.drop_index(batch_op.f('ix_invoice_line_credits_line_id'))

    op.drop_table('invoice_line')
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_index('ix_invoice_period')
        batch_op.drop_index(batch_op.f('ix_invoice_original_invoice_id'))
        batch_op.drop_index('ix_invoice_entity_reference')
        batch_op.drop_index('ix_invoice_customer_entity')

    op.drop_table('invoice')
    op.drop_table('billing_run')
    op.drop_table('billing_customer')
    with op.batch_alter_table('billing_adjustment', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_adjustment_pending')

    op.drop_table('billing_adjustment')
    with op.batch_alter_table('billed_period', schema=None) as batch_op:
        batch_op.drop_index('ix_billed_period_point')

    op.drop_table('billed_period')
