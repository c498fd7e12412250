"""Tables of receivables: imported bank files (their exact bytes) and entries, where each entry's money went
(allocations to invoices, customer credit, the unmatched queue), the payment provider's jobs, requests and
status events, dunning steps and the disconnection tasks for a person.

Money is text (``"123.45"``, signed where a reversal takes money back), as elsewhere in the store. Rows are
appended; the only rows updated later are the unmatched queue's (when a person allocates it), a provider job's
status columns (from the provider's status updates), a provider request's outcome and a task's state.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.store.columns import ID as _ID
from gateway.store.columns import day as _day
from gateway.store.columns import pk as _pk
from gateway.store.columns import ref as _ref
from gateway.store.columns import ts as _ts

UQ_BANK_ENTRY = "uq_bank_entry_account_ref"
UQ_PROVIDER_JOB = "uq_provider_job_account_billcode"
UQ_PROVIDER_REQUEST = "uq_provider_request_identity"
UQ_PROVIDER_EVENT = "uq_provider_event_account_event"
UQ_DUNNING_STEP = "uq_dunning_step_invoice_kind_number"
UQ_DISCONNECTION_TASK = "uq_disconnection_task_case_kind"


class BankFileRow(SQLModel, table=True):
    """One import of a bank file: its exact bytes, digest, size, name, format and what this import did."""

    __tablename__ = "bank_file"
    __table_args__ = (Index("ix_bank_file_sha256", "sha256"), Index("ix_bank_file_imported_at", "imported_at"))
    id: int | None = _pk()
    name: str = Field(max_length=300)
    sha256: str = Field(max_length=64)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    format: str = Field(max_length=10)  # camt.054 | ktl
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    imported_at: datetime = _ts()
    entries: int
    allocated: int
    unmatched: int
    already_imported: int


class BankEntryRow(SQLModel, table=True):
    """One entry of a bank file (a camt.054 ``Ntry`` or a KTL payment record), stored once per account and the
    bank's entry reference: a re-import finds it and changes nothing. ``decision`` is where its money went, as
    allocation decided it (a reversal undoes exactly that)."""

    __tablename__ = "bank_entry"
    __table_args__ = (
        UniqueConstraint("account", "entry_ref", name=UQ_BANK_ENTRY),
        Index("ix_bank_entry_account_reference", "account", "reference"),
    )
    id: int | None = _pk()
    file_id: int = _ref(index=True)
    account: str = Field(max_length=40)
    entry_ref: str = Field(max_length=100)
    format: str = Field(max_length=10)
    credit_debit: str = Field(max_length=4)  # CRDT | DBIT
    reversal: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    amount: str = Field(max_length=30)  # signed: negative for a reversal
    currency: str = Field(max_length=3)
    booking_date: date = _day()
    value_date: date | None = _day(nullable=True)
    payer_name: str | None = Field(default=None, max_length=140)
    reference: str | None = Field(default=None, max_length=35)  # the first valid reference, else as given
    status: str = Field(max_length=20)  # allocated | partly_unmatched | unmatched | reversed
    entity_id: str | None = Field(default=None, max_length=50)  # whose account received it
    reversal_of_entry_id: int | None = _ref(nullable=True)
    reversed_by_entry_id: int | None = _ref(nullable=True)
    decision: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts()


class PaymentAllocationRow(SQLModel, table=True):
    """Money put on an invoice (``kind`` invoice) or parked as the customer's credit for the next invoice
    (``kind`` credit, with the billing adjustment that carries it). Negative when a reversal takes it back."""

    __tablename__ = "payment_allocation"
    __table_args__ = (Index("ix_payment_allocation_invoice", "invoice_id"),)
    id: int | None = _pk()
    entry_id: int | None = _ref(nullable=True, index=True)
    unmatched_id: int | None = _ref(nullable=True)  # a manual allocation from the unmatched queue
    kind: str = Field(max_length=10)  # invoice | credit
    invoice_id: int | None = _ref(nullable=True)
    customer_id: int | None = _ref(nullable=True)
    entity_id: str = Field(max_length=50)
    amount: str = Field(max_length=30)
    paid_on: date = _day()  # the bank's booking date: late interest runs to it
    adjustment_id: int | None = _ref(nullable=True)
    source: str = Field(max_length=10)  # bank | manual | reversal
    created_at: datetime = _ts()


class UnmatchedPaymentRow(SQLModel, table=True):
    """Money that could not be put anywhere, with the reason: never dropped. A person allocates it
    (``gateway payments allocate``); ``allocated_amount`` grows until the row is ``allocated``."""

    __tablename__ = "unmatched_payment"
    __table_args__ = (Index("ix_unmatched_payment_status", "status", "id"),)
    id: int | None = _pk()
    entry_id: int = _ref(index=True)
    amount: str = Field(max_length=30)  # signed (a reversal without its original is negative)
    allocated_amount: str = Field(default="0.00", max_length=30)
    reference: str | None = Field(default=None, max_length=35)
    account: str = Field(max_length=40)
    reason: str = Field(max_length=30)
    status: str = Field(max_length=20)  # open | allocated | reversed
    booking_date: date = _day()
    payer_name: str | None = Field(default=None, max_length=140)
    created_at: datetime = _ts()
    resolved_at: datetime | None = _ts(nullable=True)


class ProviderJobRow(SQLModel, table=True):
    """An invoice's job at the payment provider (job type 0 or 300), and the provider's latest status of it."""

    __tablename__ = "provider_job"
    __table_args__ = (UniqueConstraint("account", "billcode", name=UQ_PROVIDER_JOB),)
    id: int | None = _pk()
    invoice_id: int = _ref(index=True)
    entity_id: str = Field(max_length=50)
    account: str = Field(max_length=50)
    billcode: str = Field(max_length=35)
    jobtype: int
    jobid: int = Field(sa_column=Column(BigInteger, nullable=False))
    channel: str = Field(max_length=20)
    provider_status: str = Field(max_length=20)  # Invoicing | Due | Reminder | Collection | Paid
    status_at: datetime = _ts()
    provider_paid: str = Field(default="0.00", max_length=30)
    provider_open: str | None = Field(default=None, max_length=30)
    provider_fees: str = Field(default="0.00", max_length=30)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class ProviderRequestRow(SQLModel, table=True):
    """A call to the provider: a payment we received (``POST /jobs/payment``), a reminder or collection
    hand-over (``POST /jobs`` type 1 / 2), queued in the transaction that decided it and sent by the outbox
    (``payments.provider_request``); and, recorded when the provider answered, an invoice's first job (kind
    ``job``: the request as sent and the receipt) and a credit note's report. So every call to the provider
    is one row here, and the message log shows them (``prov-N``)."""

    __tablename__ = "provider_request"
    __table_args__ = (UniqueConstraint("account", "identity", name=UQ_PROVIDER_REQUEST),)
    id: int | None = _pk()
    kind: str = Field(max_length=20)  # payment | reminder | collection | job | credit_note
    identity: str = Field(max_length=120)  # payment identifier, or billcode:jobtype
    account: str = Field(max_length=50)
    invoice_id: int = _ref(index=True)
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=20)  # queued | sent | skipped
    answer: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = _ts()
    sent_at: datetime | None = _ts(nullable=True)


class ProviderEventRow(SQLModel, table=True):
    """One status update of the provider, stored once whichever channel (polling, webhook) brought it first."""

    __tablename__ = "provider_event"
    __table_args__ = (UniqueConstraint("account", "event_id", name=UQ_PROVIDER_EVENT),)
    id: int | None = _pk()
    account: str = Field(max_length=50)
    event_id: str = Field(max_length=100)
    event: str = Field(max_length=20)  # status | payment
    billcode: str = Field(max_length=35)
    jobid: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(max_length=20)
    at: datetime = _ts()
    open_amount: str = Field(max_length=30)
    paid_amount: str = Field(max_length=30)
    fees: str = Field(max_length=30)
    invoice_id: int | None = _ref(nullable=True, index=True)
    via: str = Field(max_length=10)  # poll | webhook
    received_at: datetime = _ts()


class ProviderWebhookRow(SQLModel, table=True):
    """A webhook batch the provider pushed, kept as received once its signature held (a stranger's request is
    not kept): the exact bytes, what storing it did, or why it was refused. The message log shows it
    (``hook-N``); the events themselves are ``provider_event`` rows."""

    __tablename__ = "provider_webhook"
    __table_args__ = (Index("ix_provider_webhook_received", "received_at", "id"),)
    id: int | None = _pk()
    received_at: datetime = _ts()
    account: str | None = Field(default=None, max_length=50)
    batch_id: str | None = Field(default=None, max_length=100)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sha256: str = Field(max_length=64)
    status: str = Field(max_length=20)  # stored | rejected
    stored: int = 0
    duplicates: int = 0
    unknown: int = 0
    error: str | None = Field(default=None, max_length=500)


class DunningStepRow(SQLModel, table=True):
    """A dunning step taken for an invoice (reminder n, hand-over to collection, late interest): one row each,
    so that running dunning again for the same day changes nothing."""

    __tablename__ = "dunning_step"
    __table_args__ = (UniqueConstraint("invoice_id", "kind", "number", name=UQ_DUNNING_STEP),)
    id: int | None = _pk()
    invoice_id: int = _ref()
    entity_id: str = Field(max_length=50)
    customer_id: int = Field(sa_column=Column(_ID, nullable=False))
    kind: str = Field(max_length=20)  # reminder | collection | late_interest
    number: int
    day: date = _day()
    amount: str | None = Field(default=None, max_length=30)  # the fee or the interest charged
    adjustment_id: int | None = _ref(nullable=True)
    request_id: int | None = _ref(nullable=True)  # the provider hand-over, when the provider sends it
    detail: str = Field(default="", max_length=500)
    created_at: datetime = _ts()


class DisconnectionTaskRow(SQLModel, table=True):
    """A dated step of the consumer disconnection timeline, for a person to do (nothing is automatic). A case
    is one customer's unpaid electricity of one entity from its oldest due date (``case_key``)."""

    __tablename__ = "disconnection_task"
    __table_args__ = (
        UniqueConstraint("case_key", "kind", name=UQ_DISCONNECTION_TASK),
        Index("ix_disconnection_task_status", "status", "earliest"),
    )
    id: int | None = _pk()
    case_key: str = Field(max_length=120)
    customer_id: int = Field(sa_column=Column(_ID, nullable=False))
    entity_id: str = Field(max_length=50)
    kind: str = Field(max_length=40)
    earliest: date = _day()
    unpaid: str = Field(max_length=30)
    oldest_due_date: date = _day()
    detail: str = Field(max_length=500)
    status: str = Field(max_length=20)  # open | done | cancelled
    done_on: date | None = _day(nullable=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
