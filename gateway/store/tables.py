"""The gateway's own tables (SQLModel). The outbox's tables live in the `outbox` package.

Uniqueness that guards the "never twice" promise is a named database constraint, so the receive pipeline
can recognise a lost race by the constraint's name rather than by an error text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from outbox.types import UTCDateTime

_ID = BigInteger().with_variant(Integer(), "sqlite")

UQ_MESSAGE = "uq_message_sender_message_id"
UQ_TRANSACTION = "uq_transaction_sender_transaction_id"
UQ_SERIES_VERSION = "uq_metering_series_version"


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(UTCDateTime, nullable=nullable, index=index))


def _json(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


def _pk() -> Any:
    return Field(default=None, sa_column=Column(_ID, primary_key=True, autoincrement=True))


class Party(SQLModel, table=True):
    """A market party we exchange messages with, or one of our own GLNs."""

    __tablename__ = "party"
    gln: str = Field(primary_key=True, max_length=13)
    name: str = Field(default="", max_length=200)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    own: bool = Field(default=False)
    token_sha256: str | None = Field(default=None, max_length=64, index=True)
    cert_fingerprint: str | None = Field(default=None, max_length=128, index=True)
    # Juridical senders that authorised this party to send on their behalf (e.g. a DSO's service provider).
    acts_for: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts()


class RawMessage(SQLModel, table=True):
    """Every received body, compressed, with its digest: the audit trail's source of truth."""

    __tablename__ = "raw_message"
    id: int | None = _pk()
    sha256: str = Field(max_length=64, index=True)
    size: int
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # zlib-compressed
    channel: str = Field(max_length=20)
    authenticated_party: str | None = Field(default=None, max_length=13)
    received_at: datetime = _ts(index=True)
    # Where the business document starts in the body (a SOAP envelope archived as received); None: the body is
    # the document.
    payload_offset: int | None = None


class LandedMessage(SQLModel, table=True):
    """A pulled message stored as received, before the pipeline has read it: the pull worker commits this one
    row and dequeues; the pipeline then receives landed messages in order and deletes each in the transaction
    that stores it (see `gateway.receive.landing`)."""

    __tablename__ = "landed_message"
    id: int | None = _pk()
    channel: str = Field(max_length=20)
    authenticated_party: str = Field(max_length=13)
    queue: str | None = Field(default=None, max_length=10)
    reference: str | None = Field(default=None, max_length=100)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # as received, not compressed
    landed_at: datetime = _ts()


class PullLogRow(SQLModel, table=True):
    """What happened to a message at Datahub's end while we pulled it: landed (in the landing's own commit),
    dequeued or dequeue_failed (written with the next landing, or at the end of the pass: no commit of their
    own on the pull path). Found from the registry by the digest of the bytes, which the archive keeps."""

    __tablename__ = "datahub_pull_log"
    id: int | None = _pk()
    reference: str = Field(max_length=100, index=True)  # Datahub's DocumentReferenceNumber
    queue: str | None = Field(default=None, max_length=10)
    sha256: str = Field(max_length=64, index=True)
    event: str = Field(max_length=20)  # landed | dequeued | dequeue_failed
    at: datetime = _ts()


class MessageRecord(SQLModel, table=True):
    """The message registry: one row per (sender, message id), with the validation result."""

    __tablename__ = "message_registry"
    __table_args__ = (
        UniqueConstraint("sender_gln", "message_id", name=UQ_MESSAGE),
        Index("ix_message_registry_received_at", "received_at"),
    )
    id: int | None = _pk()
    sender_gln: str = Field(max_length=13)
    message_id: str | None = Field(default=None, max_length=36)
    document_type: str | None = Field(default=None, max_length=8)
    business_process: str | None = Field(default=None, max_length=20)
    raw_id: int = Field(sa_column=Column(_ID, nullable=False, index=True))
    sha256: str = Field(max_length=64)
    channel: str = Field(max_length=20)
    status: str = Field(max_length=20, index=True)  # accepted | partially_accepted | rejected | parked
    level: str | None = Field(default=None, max_length=10)  # schema | process | event
    reason_code: str | None = Field(default=None, max_length=60)
    errors: list[dict[str, Any]] | None = _json()  # the first gateway.receive.MAX_ERRORS
    error_count: int | None = None  # all errors found (None: as many as listed)
    transactions: int = 0
    ack_message_id: str | None = Field(default=None, max_length=36)
    received_at: datetime = _ts()
    updated_at: datetime = _ts()


class TransactionRecord(SQLModel, table=True):
    __tablename__ = "transaction_registry"
    __table_args__ = (UniqueConstraint("sender_gln", "transaction_id", name=UQ_TRANSACTION),)
    id: int | None = _pk()
    sender_gln: str = Field(max_length=13)
    transaction_id: str = Field(max_length=36)
    message_pk: int = Field(sa_column=Column(_ID, nullable=False, index=True))
    accounting_point: str | None = Field(default=None, max_length=18, index=True)
    status: str = Field(max_length=20)
    errors: list[dict[str, Any]] | None = _json()


class AccountingPointRow(SQLModel, table=True):
    """E58 master data, one row per received version; the current one has the latest valid_from."""

    __tablename__ = "accounting_point"
    __table_args__ = (Index("ix_accounting_point_gsrn_valid_from", "gsrn", "valid_from"),)
    id: int | None = _pk()
    gsrn: str = Field(max_length=18)
    valid_from: datetime = _ts()
    grid_area: str | None = Field(default=None, max_length=20)
    metering_method: str | None = Field(default=None, max_length=10)
    resolution: str | None = Field(default=None, max_length=10)
    main_fuse: str | None = Field(default=None, max_length=40)
    tax_category: str | None = Field(default=None, max_length=10)
    attributes: dict[str, Any] | None = _json()
    message_pk: int = Field(sa_column=Column(_ID, nullable=False))
    received_at: datetime = _ts()


class CustomerRow(SQLModel, table=True):
    """F01 customer data. The personal identity code is kept for business use but never shown in full."""

    __tablename__ = "customer"
    id: int | None = _pk()
    customer_key: str = Field(max_length=100, index=True)
    accounting_point: str | None = Field(default=None, max_length=18, index=True)
    name: str = Field(default="", max_length=300)
    identification_type: str | None = Field(default=None, max_length=10)
    identification: str | None = Field(default=None, max_length=40)
    identification_masked: str | None = Field(default=None, max_length=40)
    attributes: dict[str, Any] | None = _json()
    message_pk: int = Field(sa_column=Column(_ID, nullable=False))
    received_at: datetime = _ts()


class SalesAgreementRow(SQLModel, table=True):
    """F04 agreements and F06 end notices applied to them."""

    __tablename__ = "sales_agreement"
    id: int | None = _pk()
    accounting_point: str = Field(max_length=18, index=True)
    agreement_id: str | None = Field(default=None, max_length=100, index=True)
    # The agreement's customer as the F01 customer key (a digest for personal identity codes, never the code):
    # what ties an agreement to its customer's F01 data and to the invoices billed to that customer.
    customer_key: str | None = Field(default=None, max_length=100, index=True)
    supplier_gln: str | None = Field(default=None, max_length=13)
    start: datetime | None = _ts(nullable=True)
    end: datetime | None = _ts(nullable=True)
    product_code: str | None = Field(default=None, max_length=100)
    invoicing_channel: str | None = Field(default=None, max_length=20)
    e_invoice_address: dict[str, Any] | None = _json()
    notice: dict[str, Any] | None = _json()
    attributes: dict[str, Any] | None = _json()
    status: str = Field(default="active", max_length=20)
    message_pk: int = Field(sa_column=Column(_ID, nullable=False))
    ended_by_message_pk: int | None = Field(default=None, sa_column=Column(_ID, nullable=True))
    received_at: datetime = _ts()


class MeteringSeriesRow(SQLModel, table=True):
    """One version of one accounting point's series over one period, values packed.

    values: little-endian int64 micro-units (quantity × 10^6, exact for QTY's six decimals);
    quality: one byte per position (see gateway.metering_codes). A later message for the same period is a
    new version; nothing is overwritten, so billing can re-rate and "latest as of T" is a query.
    """

    __tablename__ = "metering_series"
    __table_args__ = (
        UniqueConstraint(
            "accounting_point", "product", "resolution", "period_start", "period_end", "version",
            name=UQ_SERIES_VERSION,
        ),
        Index("ix_metering_series_point_period", "accounting_point", "period_start"),
    )
    id: int | None = _pk()
    accounting_point: str = Field(max_length=18)
    product: str = Field(max_length=20)
    unit: str = Field(max_length=10)
    resolution: str = Field(max_length=10)
    period_start: datetime = _ts()
    period_end: datetime = _ts()
    version: int
    positions: int
    values: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    quality: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    transaction_id: str = Field(max_length=36)
    message_pk: int = Field(sa_column=Column(_ID, nullable=False, index=True))
    received_at: datetime = _ts(index=True)


class ParkedMessage(SQLModel, table=True):
    """A pulled message that waits for data from another queue (e.g. its E58) before it can be applied."""

    __tablename__ = "parked_message"
    id: int | None = _pk()
    message_pk: int = Field(sa_column=Column(_ID, nullable=False, unique=True))
    raw_id: int = Field(sa_column=Column(_ID, nullable=False))
    sender_gln: str = Field(max_length=13)
    waiting_for: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reason: str = Field(default="", max_length=1000)
    parked_at: datetime = _ts()
    attempts: int = 0
    released_at: datetime | None = _ts(nullable=True)


class PartyQueueItem(SQLModel, table=True):
    """Messages waiting for a market party to peek and dequeue on our SOAP endpoint (mostly ACKs)."""

    __tablename__ = "party_queue"
    __table_args__ = (Index("ix_party_queue_recipient_pending", "recipient_gln", "dequeued_at", "id"),)
    id: int | None = _pk()
    recipient_gln: str = Field(max_length=13)
    reference: str = Field(max_length=36, unique=True)
    document_type: str = Field(max_length=8)
    message_id: str = Field(max_length=36)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = _ts()
    dequeued_at: datetime | None = _ts(nullable=True)


class OutboundMessage(SQLModel, table=True):
    """A message we send to Datahub: its bytes, where it is in its life, and Datahub's answer."""

    __tablename__ = "outbound_message"
    id: int | None = _pk()
    message_id: str = Field(max_length=36, unique=True)
    document_type: str = Field(max_length=8)
    recipient_gln: str = Field(max_length=13)
    accounting_point: str | None = Field(default=None, max_length=18, index=True)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(max_length=20, index=True)  # queued | sent | accepted | rejected | failed
    datahub_reference: str | None = Field(default=None, max_length=36)
    ack_reason_code: str | None = Field(default=None, max_length=10)
    ack_errors: list[dict[str, Any]] | None = _json()
    resend_of: str | None = Field(default=None, max_length=36)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
