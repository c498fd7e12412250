"""Receivables: bank files and entries, allocations, the unmatched queue, provider jobs, requests and status
events, dunning steps, disconnection tasks

Revision ID: 0009_receivables
Revises: 0008_support
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_receivables"
down_revision = "0008_support"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('bank_entry',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('file_id', ID, nullable=False),
    sa.Column('account', sa.String(length=40), nullable=False),
    sa.Column('entry_ref', sa.String(length=100), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('credit_debit', sa.String(length=4), nullable=False),
    sa.Column('reversal', sa.Boolean(), nullable=False),
    sa.Column('amount', sa.String(length=30), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('booking_date', sa.Date(), nullable=False),
    sa.Column('value_date', sa.Date(), nullable=True),
    sa.Column('payer_name', sa.String(length=140), nullable=True),
    sa.Column('reference', sa.String(length=35), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('entity_id', sa.String(length=50), nullable=True),
    sa.Column('reversal_of_entry_id', ID, nullable=True),
    sa.Column('reversed_by_entry_id', ID, nullable=True),
    sa.Column('decision', sa.JSON(), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account', 'entry_ref', name='uq_bank_entry_account_ref')
    )
    op.create_index('ix_bank_entry_account_reference', 'bank_entry', ['account', 'reference'], unique=False)
    op.create_index(op.f('ix_bank_entry_file_id'), 'bank_entry', ['file_id'], unique=False)
    op.create_table('bank_file',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('imported_at', TS, nullable=False),
    sa.Column('entries', sa.Integer(), nullable=False),
    sa.Column('allocated', sa.Integer(), nullable=False),
    sa.Column('unmatched', sa.Integer(), nullable=False),
    sa.Column('already_imported', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_bank_file_imported_at', 'bank_file', ['imported_at'], unique=False)
    op.create_index('ix_bank_file_sha256', 'bank_file', ['sha256'], unique=False)
    op.create_table('disconnection_task',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('case_key', sa.String(length=120), nullable=False),
    sa.Column('customer_id', ID, nullable=False),
    sa.Column('entity_id', sa.String(length=50), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('earliest', sa.Date(), nullable=False),
    sa.Column('unpaid', sa.String(length=30), nullable=False),
    sa.Column('oldest_due_date', sa.Date(), nullable=False),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('done_on', sa.Date(), nullable=True),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('updated_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_key', 'kind', name='uq_disconnection_task_case_kind')
    )
    op.create_index('ix_disconnection_task_status', 'disconnection_task', ['status', 'earliest'], unique=False)
    op.create_table('dunning_step',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('invoice_id', ID, nullable=False),
    sa.Column('entity_id', sa.String(length=50), nullable=False),
    sa.Column('customer_id', ID, nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('amount', sa.String(length=30), nullable=True),
    sa.Column('adjustment_id', ID, nullable=True),
    sa.Column('request_id', ID, nullable=True),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('invoice_id', 'kind', 'number', name='uq_dunning_step_invoice_kind_number')
    )
    op.create_table('payment_allocation',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('entry_id', ID, nullable=True),
    sa.Column('unmatched_id', ID, nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('invoice_id', ID, nullable=True),
    sa.Column('customer_id', ID, nullable=True),
    sa.Column('entity_id', sa.String(length=50), nullable=False),
    sa.Column('amount', sa.String(length=30), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('adjustment_id', ID, nullable=True),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_payment_allocation_entry_id'), 'payment_allocation', ['entry_id'], unique=False)
    op.create_index('ix_payment_allocation_invoice', 'payment_allocation', ['invoice_id'], unique=False)
    op.create_table('provider_event',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('account', sa.String(length=50), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('event', sa.String(length=20), nullable=False),
    sa.Column('billcode', sa.String(length=35), nullable=False),
    sa.Column('jobid', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('at', TS, nullable=False),
    sa.Column('open_amount', sa.String(length=30), nullable=False),
    sa.Column('paid_amount', sa.String(length=30), nullable=False),
    sa.Column('fees', sa.String(length=30), nullable=False),
    sa.Column('invoice_id', ID, nullable=True),
    sa.Column('via', sa.String(length=10), nullable=False),
    sa.Column('received_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account', 'event_id', name='uq_provider_event_account_event')
    )
    op.create_index(op.f('ix_provider_event_invoice_id'), 'provider_event', ['invoice_id'], unique=False)
    op.create_table('provider_job',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('invoice_id', ID, nullable=False),
    sa.Column('entity_id', sa.String(length=50), nullable=False),
    sa.Column('account', sa.String(length=50), nullable=False),
    sa.Column('billcode', sa.String(length=35), nullable=False),
    sa.Column('jobtype', sa.Integer(), nullable=False),
    sa.Column('jobid', sa.BigInteger(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('provider_status', sa.String(length=20), nullable=False),
    sa.Column('status_at', TS, nullable=False),
    sa.Column('provider_paid', sa.String(length=30), nullable=False),
    sa.Column('provider_open', sa.String(length=30), nullable=True),
    sa.Column('provider_fees', sa.String(length=30), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('updated_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account', 'billcode', name='uq_provider_job_account_billcode')
    )
    op.create_index(op.f('ix_provider_job_invoice_id'), 'provider_job', ['invoice_id'], unique=False)
    op.create_table('provider_request',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('identity', sa.String(length=120), nullable=False),
    sa.Column('account', sa.String(length=50), nullable=False),
    sa.Column('invoice_id', ID, nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=True),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('sent_at', TS, nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account', 'identity', name='uq_provider_request_identity')
    )
    op.create_index(op.f('ix_provider_request_invoice_id'), 'provider_request', ['invoice_id'], unique=False)
    op.create_table('unmatched_payment',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('entry_id', ID, nullable=False),
    sa.Column('amount', sa.String(length=30), nullable=False),
    sa.Column('allocated_amount', sa.String(length=30), nullable=False),
    sa.Column('reference', sa.String(length=35), nullable=True),
    sa.Column('account', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('booking_date', sa.Date(), nullable=False),
    sa.Column('payer_name', sa.String(length=140), nullable=True),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('resolved_at', TS, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_unmatched_payment_entry_id'), 'unmatched_payment', ['entry_id'], unique=False)
    op.create_index('ix_unmatched_payment_status', 'unmatched_payment', ['status', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_unmatched_payment_status', table_name='unmatched_payment')
    op.drop_index(op.f('ix_unmatched_payment_entry_id'), table_name='unmatched_payment')
    op.drop_table('unmatched_payment')
    op.drop_index(op.f('ix_provider_request_invoice_id'), table_name='provider_request')
    op.drop_table('provider_request')
    op.drop_index(op.f('ix_provider_job_invoice_id'), table_name='provider_job')
    op.drop_table('provider_job')
    op.drop_index(op.f('ix_provider_event_invoice_id'), table_name='provider_event')
    op.drop_table('provider_event')
    op.drop_index('ix_payment_allocation_invoice', table_name='payment_allocation')
    op.drop_index(op.f('ix_payment_allocation_entry_id'), table_name='payment_allocation')
    op.drop_table('payment_allocation')
    op.drop_table('dunning_step')
    op.drop_index('ix_disconnection_task_status', table_name='disconnection_task')
    op.drop_table('disconnection_task')
    op.drop_index('ix_bank_file_sha256', table_name='bank_file')
    op.drop_index('ix_bank_file_imported_at', table_name='bank_file')
    op.drop_table('bank_file')
    op.drop_index(op.f('ix_bank_entry_file_id'), table_name='bank_entry')
    op.drop_index('ix_bank_entry_account_reference', table_name='bank_entry')
    op.drop_table('bank_entry')
