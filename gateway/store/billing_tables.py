"""Tables of invoicing: customers, number series, invoices and credit notes with their lines, what each
(entity, accounting point, customer, period) was billed on, pending adjustments, and billing runs.

Money is kept as text (``"123.45"``) so that it stays an exact Decimal on every backend, as elsewhere in the
store. An issued invoice's row, lines and Finvoice bytes are never updated except for the lifecycle columns
(``status``, ``payment_status``, ``paid_amount``, ``sent_at``) that later processes own.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.store.columns import ID as _ID
from gateway.store.columns import day as _day
from gateway.store.columns import pk as _pk
from gateway.store.columns import ref as _ref
from gateway.store.columns import ts as _ts

UQ_CUSTOMER_KEY = "uq_billing_customer_key"
UQ_INVOICE_NUMBER = "uq_invoice_entity_number"
UQ_BILLED_PERIOD = "uq_billed_period"


class BillingCustomerRow(SQLModel, table=True):
    """Who is billed. Datahub customers (key ``datahub:…``) are kept up to date from F04/F01 by the billing
    run; district-heating customers (``own:…``) come from ``gateway customers add``. Never a personal identity
    code: a consumer has no identifier here at all."""

    __tablename__ = "billing_customer"
    __table_args__ = (UniqueConstraint("customer_key", name=UQ_CUSTOMER_KEY),)
    id: int | None = _pk()
    customer_key: str = Field(max_length=120)
    source: str = Field(max_length=20)  # datahub | own
    name: str = Field(max_length=300)
    customer_type: str = Field(max_length=20)  # consumer | business
    business_id: str | None = Field(default=None, max_length=20)
    street: str | None = Field(default=None, max_length=200)
    postcode: str | None = Field(default=None, max_length=20)
    city: str | None = Field(default=None, max_length=100)
    country: str = Field(default="FI", max_length=2)
    language: str | None = Field(default=None, max_length=5)
    channel: str = Field(default="paper", max_length=20)
    e_invoice_address: str | None = Field(default=None, max_length=100)
    e_invoice_operator: str | None = Field(default=None, max_length=35)
    email: str | None = Field(default=None, max_length=200)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class InvoiceSeriesRow(SQLModel, table=True):
    """The gapless number series of one entity: the next running number to draw. Drawn only at issue, in the
    issuing transaction, under a row lock (PostgreSQL) or the write lock (SQLite)."""

    __tablename__ = "invoice_series"
    entity_id: str = Field(primary_key=True, max_length=50)
    prefix: str = Field(max_length=19)
    width: int
    next_sequence: int = 1
    updated_at: datetime = _ts()


class InvoiceRow(SQLModel, table=True):
    """An invoice or a credit note. ``document`` is the whole issued document as data (what the PDF and the
    JSON export are rendered from); ``finvoice`` the validated Finvoice bytes as released."""

    __tablename__ = "invoice"
    __table_args__ = (
        UniqueConstraint("entity_id", "number", name=UQ_INVOICE_NUMBER),
        Index("ix_invoice_entity_reference", "entity_id", "reference"),
        Index("ix_invoice_customer_entity", "customer_id", "entity_id"),
        Index("ix_invoice_period", "period_start", "entity_id"),
    )
    id: int | None = _pk()
    entity_id: str = Field(max_length=50)
    kind: str = Field(max_length=20)  # invoice | credit_note
    number: str | None = Field(default=None, max_length=20)
    sequence: int | None = None
    status: str = Field(max_length=20)  # draft | issued | sent
    payment_status: str = Field(max_length=20)  # unpaid | partially_paid | paid | overdue | in_collection | credited
    customer_id: int = Field(sa_column=Column(_ID, nullable=False))
    customer_type: str = Field(max_length=20)
    channel: str = Field(max_length=20)
    period_start: date = _day()
    period_end: date = _day()
    invoice_date: date = _day()
    due_date: date = _day()
    reference: str = Field(max_length=20)
    reference_rf: str = Field(max_length=25)
    currency: str = Field(default="EUR", max_length=3)
    total_excl_vat: str = Field(max_length=30)
    total_vat: str = Field(max_length=30)
    total: str = Field(max_length=30)
    paid_amount: str = Field(default="0.00", max_length=30)
    original_invoice_id: int | None = _ref(nullable=True, index=True)
    final: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    reason: str | None = Field(default=None, max_length=1000)
    barcode: str | None = Field(default=None, max_length=54)
    document: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    finvoice: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    finvoice_sha256: str = Field(max_length=64)
    run_id: int | None = _ref(nullable=True)
    created_at: datetime = _ts()
    issued_at: datetime = _ts()
    released_at: datetime | None = _ts(nullable=True)
    sent_at: datetime | None = _ts(nullable=True)


class InvoiceLineRow(SQLModel, table=True):
    """One row of an invoice and where it came from: a rating result's priced line (id, revision, index into
    ``RatingResult.lines``, and through its ``inputs`` the metering versions and messages), an adjustment, or
    (on a credit note) the invoice line it credits."""

    __tablename__ = "invoice_line"
    __table_args__ = (Index("ix_invoice_line_point_period", "accounting_point", "period_start"),)
    id: int | None = _pk()
    invoice_id: int = _ref(index=True)
    position: int
    description: str = Field(max_length=200)
    accounting_point: str | None = Field(default=None, max_length=18)
    product_code: str | None = Field(default=None, max_length=100)
    component: str | None = Field(default=None, max_length=60)
    period_start: date | None = _day(nullable=True)
    period_end: date | None = _day(nullable=True)
    quantity: str | None = Field(default=None, max_length=40)
    unit: str | None = Field(default=None, max_length=10)
    unit_price: str | None = Field(default=None, max_length=30)
    amount: str = Field(max_length=30)
    vat_rate: str = Field(max_length=10)
    vat_kind: str | None = Field(default=None, max_length=30)
    tax_class: str | None = Field(default=None, max_length=10)
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    rating_result_id: int | None = _ref(nullable=True, index=True)
    rating_revision: int | None = None
    priced_line_index: int | None = None
    adjustment_id: int | None = _ref(nullable=True)
    credits_line_id: int | None = _ref(nullable=True, index=True)


class BilledPeriodRow(SQLModel, table=True):
    """What billed one rated period of one accounting point for one customer and entity, and which rating
    revision the customer has been billed for so far (corrections move it on). The unique constraint is what
    makes a billing run idempotent and two concurrent runs unable to bill the same period twice."""

    __tablename__ = "billed_period"
    __table_args__ = (
        UniqueConstraint("entity_id", "accounting_point", "customer_id", "period_start", name=UQ_BILLED_PERIOD),
        Index("ix_billed_period_point", "accounting_point", "period_start", "period_end"),
    )
    id: int | None = _pk()
    entity_id: str = Field(max_length=50)
    accounting_point: str = Field(max_length=18)
    customer_id: int = Field(sa_column=Column(_ID, nullable=False))
    period_start: date = _day()
    period_end: date = _day()
    invoice_id: int = _ref()
    rating_result_id: int = _ref()
    rating_revision: int
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class BillingAdjustmentRow(SQLModel, table=True):
    """An amount to put on the customer's next invoice of the entity: a reminder fee, late interest or a
    customer credit (written by receivables), or a correction delta too small for a credit note."""

    __tablename__ = "billing_adjustment"
    __table_args__ = (Index("ix_billing_adjustment_pending", "customer_id", "entity_id", "status"),)
    id: int | None = _pk()
    customer_id: int = Field(sa_column=Column(_ID, nullable=False))
    entity_id: str = Field(max_length=50)
    kind: str = Field(max_length=20)  # reminder_fee | late_interest | credit | carried_delta
    amount: str = Field(max_length=30)
    vat_rate: str = Field(max_length=10)
    description: str = Field(default="", max_length=200)
    source: str = Field(default="", max_length=300)
    accounting_point: str | None = Field(default=None, max_length=18)
    period_start: date | None = _day(nullable=True)
    period_end: date | None = _day(nullable=True)
    rating_result_id: int | None = _ref(nullable=True)
    rating_revision: int | None = None
    status: str = Field(default="pending", max_length=20)  # pending | consumed | superseded
    consumed_by_invoice_id: int | None = _ref(nullable=True)
    created_at: datetime = _ts()


class BillingRunRow(SQLModel, table=True):
    """One `gateway bill` run and its report (what was invoiced, what was held and why)."""

    __tablename__ = "billing_run"
    id: int | None = _pk()
    period: str = Field(max_length=7)  # YYYY-MM
    entity_id: str | None = Field(default=None, max_length=50)
    dry_run: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    status: str = Field(max_length=20)  # running | completed | failed
    report: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    started_at: datetime = _ts()
    finished_at: datetime | None = _ts(nullable=True)
