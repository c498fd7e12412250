"""Tables of the support side: users and API clients, the access audit log, recorded message events, one kept
secret, and the indexes that make the message log searchable among millions of messages.

The indexes on the gateway's own tables are declared here, next to the queries that need them
(`gateway.queries`), rather than on the table classes: they exist for support's read models, and the
migration `0008_support` builds exactly these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.store.billing_tables import InvoiceRow
from gateway.store.payments_tables import BankEntryRow, BankFileRow, ProviderRequestRow
from gateway.store.rating_tables import SpotPriceImport
from gateway.store.tables import MessageRecord, OutboundMessage, TransactionRecord
from outbox.types import UTCDateTime

_ID = BigInteger().with_variant(Integer(), "sqlite")

UQ_USER_NAME = "uq_api_user_name"
UQ_USER_TOKEN = "uq_api_user_token_sha256"


def _ts(nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    return Field(sa_column=Column(UTCDateTime, nullable=False))


def _pk() -> Any:
    return Field(default=None, sa_column=Column(_ID, primary_key=True, autoincrement=True))


class ApiUser(SQLModel, table=True):
    """A person (support staff, billing admin) or an API client, with one role and the SHA-256 of its token.

    Tokens are 256-bit random strings, so a plain SHA-256 is enough to keep a stolen table useless (no
    dictionary to try); the token itself is shown once by `gateway users add` and never stored.
    """

    __tablename__ = "api_user"
    __table_args__ = (
        UniqueConstraint("name", name=UQ_USER_NAME),
        UniqueConstraint("token_sha256", name=UQ_USER_TOKEN),
    )
    id: int | None = _pk()
    name: str = Field(max_length=100)
    role: str = Field(max_length=20)
    token_sha256: str = Field(max_length=64)
    created_at: datetime = _ts()
    revoked_at: datetime | None = _ts(nullable=True)


class AccessAudit(SQLModel, table=True):
    """Who did or saw what, and why: every view of an unmasked personal identity code, every replay, logins."""

    __tablename__ = "access_audit"
    __table_args__ = (
        Index("ix_access_audit_at", "at"),
        Index("ix_access_audit_subject", "subject_type", "subject_id"),
    )
    id: int | None = _pk()
    at: datetime = _ts()
    user_id: int | None = Field(default=None, sa_column=Column(_ID, nullable=True))
    user_name: str = Field(max_length=100)
    role: str = Field(max_length=20)
    action: str = Field(max_length=40)
    subject_type: str = Field(max_length=40)
    subject_id: str = Field(max_length=100)
    reason: str = Field(default="", max_length=500)
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class AppSecret(SQLModel, table=True):
    """Secrets the service generates once and keeps (the session cookie key when configuration gives none)."""

    __tablename__ = "app_secret"
    name: str = Field(primary_key=True, max_length=50)
    value: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _ts()


class MessageEvent(SQLModel, table=True):
    """A step in a message's life that no other table records (e.g. `dequeued` after a pull, `replayed`).

    `direction` says which registry `message_pk` points into: `inbound` → message_registry.id,
    `outbound` → outbound_message.id. Written with `gateway.queries.timeline.record_message_event`.
    """

    __tablename__ = "message_event"
    __table_args__ = (Index("ix_message_event_message", "direction", "message_pk", "at"),)
    id: int | None = _pk()
    direction: str = Field(max_length=10)
    message_pk: int = Field(sa_column=Column(_ID, nullable=False))
    kind: str = Field(max_length=30)
    at: datetime = _ts()
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


# -- search indexes on the gateway's tables (see gateway/queries/messages.py) ---------------------------------
# Every list is newest first with a (time, id) keyset, so each index ends in (time, id): a page is one range scan.
_registry = MessageRecord.__table__  # type: ignore[attr-defined]
_transactions = TransactionRecord.__table__  # type: ignore[attr-defined]
_outbound = OutboundMessage.__table__  # type: ignore[attr-defined]
_price_imports = SpotPriceImport.__table__  # type: ignore[attr-defined]
_invoices = InvoiceRow.__table__  # type: ignore[attr-defined]

SEARCH_INDEXES = (
    Index("ix_message_registry_time_id", _registry.c.received_at, _registry.c.id),
    Index("ix_message_registry_message_id", _registry.c.message_id),
    Index("ix_message_registry_sender_time", _registry.c.sender_gln, _registry.c.received_at, _registry.c.id),
    Index("ix_message_registry_status_time", _registry.c.status, _registry.c.received_at, _registry.c.id),
    Index("ix_message_registry_type_time", _registry.c.document_type, _registry.c.received_at, _registry.c.id),
    Index("ix_transaction_registry_transaction_id", _transactions.c.transaction_id),
    Index("ix_transaction_registry_point_message", _transactions.c.accounting_point, _transactions.c.message_pk),
    Index("ix_outbound_message_time_id", _outbound.c.created_at, _outbound.c.id),
    Index("ix_outbound_message_recipient_time", _outbound.c.recipient_gln, _outbound.c.created_at),
    Index("ix_spot_price_import_time", _price_imports.c.imported_at),
)

# Invoices in the message log (released documents, newest first) and the invoice search: a number or a reference
# is often all a customer has, without the entity (the unique (entity, number) index starts with the entity).
INVOICE_INDEXES = (
    Index("ix_invoice_released_id", _invoices.c.released_at, _invoices.c.id),
    Index("ix_invoice_status_released", _invoices.c.status, _invoices.c.released_at, _invoices.c.id),
    Index("ix_invoice_number", _invoices.c.number),
    Index("ix_invoice_reference", _invoices.c.reference),
    Index("ix_invoice_run", _invoices.c.run_id),
)

# Receivables in the message log (bank files, provider calls: newest first) and the payment search.
_bank_files = BankFileRow.__table__  # type: ignore[attr-defined]
_provider_requests = ProviderRequestRow.__table__  # type: ignore[attr-defined]
_bank_entries = BankEntryRow.__table__  # type: ignore[attr-defined]

PAYMENT_INDEXES = (
    Index("ix_bank_file_imported_id", _bank_files.c.imported_at, _bank_files.c.id),
    Index("ix_provider_request_created_id", _provider_requests.c.created_at, _provider_requests.c.id),
    Index("ix_bank_entry_reference", _bank_entries.c.reference),
)
