"""The message log: every inbound and outbound Datahub message and every imported file, searchable and paged.

Four sources share one id space and one order (newest first):

| id        | source                  | time          | party           | document type            |
|-----------|-------------------------|---------------|-----------------|--------------------------|
| `in-N`    | message_registry (+ raw)| received_at   | sender (authenticated party) | E66, E58, F01, …, ACK |
| `out-N`   | outbound_message        | created_at    | recipient       | F04, F06, F03, F08       |
| `price-N` | spot_price_import       | imported_at   | —               | `A44` (ENTSO-E) or `CSV` |
| `catalogue-N` | catalogue_version   | loaded_at     | —               | `CATALOGUE`              |
| `inv-N`   | invoice (released)      | released_at   | —               | `INV01` / `INV02` Finvoice |
| `bank-N`  | bank_file               | imported_at   | receiving account | `CAMT054` / `KTL`      |
| `prov-N`  | provider_request        | created_at    | provider account | `PROVIDER_JOB`, `PROVIDER_PAYMENT`, … |
| `hook-N`  | provider_webhook        | received_at   | provider account | `PROVIDER_WEBHOOK`      |

A search runs one indexed query per source that can match the filters (a transaction id only exists inbound;
files have no party or accounting point), each ordered by (time, id) and limited to one page, and merges
them: every page costs a few index range scans, never an OFFSET. Released invoices and credit notes are the
outbound side of invoicing (derived from the invoice tables: their number is the message id, the stored
Finvoice the payload). Receivables add three: imported bank files (their exact bytes), every call to the
payment provider (outbound: an invoice's job, payment and credit note reports, reminder and collection
hand-overs; the request and the answer as payload) and the provider's webhook batches (inbound, as received).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select, tuple_, union
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.service import STATUSES as INVOICE_STATUSES
from gateway.domain.identifiers import is_valid_gln
from gateway.queries.pagination import BadQuery, Page, decode_cursor, encode_cursor
from gateway.store.billing_tables import InvoiceLineRow, InvoiceRow
from gateway.store.payments_tables import BankEntryRow, BankFileRow, ProviderRequestRow, ProviderWebhookRow
from gateway.store.rating_tables import CatalogueVersion, SpotPriceImport
from gateway.store.tables import (
    AccountingPointRow,
    MessageRecord,
    OutboundMessage,
    SalesAgreementRow,
    TransactionRecord,
)

INBOUND: Final = "in"
OUTBOUND: Final = "out"
PRICE_FILE: Final = "price"
CATALOGUE: Final = "catalogue"
INVOICE: Final = "inv"
BANK_FILE: Final = "bank"
PROVIDER_CALL: Final = "prov"
WEBHOOK: Final = "hook"
KINDS: Final = (INBOUND, OUTBOUND, PRICE_FILE, CATALOGUE, INVOICE, BANK_FILE, PROVIDER_CALL, WEBHOOK)
DIRECTIONS: Final = {INBOUND: "inbound", OUTBOUND: "outbound", PRICE_FILE: "file", CATALOGUE: "file",
                     INVOICE: "outbound", BANK_FILE: "inbound", PROVIDER_CALL: "outbound", WEBHOOK: "inbound"}
# Tie-break between sources at equal times (kept in cursors: never renumber one).
_RANK: Final = {WEBHOOK: 7, PROVIDER_CALL: 6, BANK_FILE: 5, INVOICE: 4, INBOUND: 3, OUTBOUND: 2, PRICE_FILE: 1,
                CATALOGUE: 0}
PRICE_FORMATS: Final = {"entsoe": "A44", "csv": "CSV"}
INVOICE_TYPES: Final = {"invoice": "INV01", "credit_note": "INV02"}  # Finvoice InvoiceTypeCode
BANK_FORMATS: Final = {"camt.054": "CAMT054", "ktl": "KTL"}
PROVIDER_TYPES: Final = {kind: f"PROVIDER_{kind.upper()}" for kind in (
    "job", "payment", "reminder", "collection", "credit_note")}
WEBHOOK_TYPE: Final = "PROVIDER_WEBHOOK"


@dataclass(frozen=True)
class MessageRef:
    kind: str
    pk: int

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.pk}"

    @classmethod
    def parse(cls, text: str) -> MessageRef:
        kind, _, number = text.partition("-")
        if kind not in KINDS or not number.isdigit() or len(number) > 18:
            raise LookupError(f"{text!r} is not a message id of this log (in-N, out-N, price-N, catalogue-N, inv-N, "
                              "bank-N, prov-N, hook-N)")
        return cls(kind, int(number))


@dataclass(frozen=True)
class MessageFilter:
    gsrn: str | None = None
    message_id: str | None = None
    transaction_id: str | None = None
    party: str | None = None
    document_type: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    direction: str | None = None  # inbound | outbound | file

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise BadQuery(f"{name} must carry a time zone (e.g. 2026-03-01T00:00:00Z)")
        if self.direction not in (None, "inbound", "outbound", "file"):
            raise BadQuery("direction must be inbound, outbound or file")


@dataclass(frozen=True)
class MessageSummary:
    id: str
    direction: str
    message_id: str | None
    document_type: str | None
    business_process: str | None
    party: str | None
    channel: str | None
    status: str
    reason_code: str | None
    error_count: int
    transactions: int | None
    at: datetime
    accounting_point: str | None = None
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sort_key(self) -> tuple[datetime, int, int]:
        ref = MessageRef.parse(self.id)
        return self.at, _RANK[ref.kind], ref.pk

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "direction": self.direction, "message_id": self.message_id,
            "document_type": self.document_type, "business_process": self.business_process, "party": self.party,
            "channel": self.channel, "status": self.status, "reason_code": self.reason_code,
            "error_count": self.error_count, "transactions": self.transactions, "at": self.at.isoformat(),
            "accounting_point": self.accounting_point, "source": self.source,
        }


# -- keyset conditions --------------------------------------------------------------------------------------
def _after(time_col: Any, pk_col: Any, kind: str, cursor: tuple[datetime, int, int] | None) -> Any:
    """Rows of source `kind` that sort after the cursor in (time desc, rank desc, pk desc) order."""
    if cursor is None:
        return None
    at, rank, pk = cursor
    own = _RANK[kind]
    if own < rank:
        return time_col <= at
    if own > rank:
        return time_col < at
    return tuple_(time_col, pk_col) < tuple_(at, pk)


def _where(query: Any, *conditions: Any) -> Any:
    real = [c for c in conditions if c is not None]
    return query.where(*real) if real else query


def _times(time_col: Any, f: MessageFilter) -> list[Any]:
    return [time_col >= f.since if f.since else None, time_col < f.until if f.until else None]


def _messages_of_point(gsrn: str) -> Any:
    """Registry ids of inbound messages about an accounting point: metering and other transactions, master data,
    agreements and their end notices (master data messages carry no transaction id of their own)."""
    return union(
        select(col(TransactionRecord.message_pk)).where(col(TransactionRecord.accounting_point) == gsrn),
        select(col(AccountingPointRow.message_pk)).where(col(AccountingPointRow.gsrn) == gsrn),
        select(col(SalesAgreementRow.message_pk)).where(col(SalesAgreementRow.accounting_point) == gsrn),
        select(col(SalesAgreementRow.ended_by_message_pk)).where(
            col(SalesAgreementRow.accounting_point) == gsrn, col(SalesAgreementRow.ended_by_message_pk).is_not(None)),
    )


def _inbound_columns() -> Any:
    m = MessageRecord
    return select(
        col(m.id), col(m.message_id), col(m.document_type), col(m.business_process), col(m.sender_gln),
        col(m.channel), col(m.status), col(m.reason_code), col(m.errors), col(m.transactions), col(m.received_at),
    )


def _inbound_rows(session: Session, q: Any) -> list[MessageSummary]:
    return [
        MessageSummary(f"{INBOUND}-{pk}", "inbound", mid, dtype, process, sender, channel, status, reason,
                       len(errors or []), txns, at)
        for pk, mid, dtype, process, sender, channel, status, reason, errors, txns, at in session.execute(q)
    ]


def _outbound_columns() -> Any:
    o = OutboundMessage
    return select(
        col(o.id), col(o.message_id), col(o.document_type), col(o.recipient_gln), col(o.status),
        col(o.ack_reason_code), col(o.ack_errors), col(o.accounting_point), col(o.created_at),
    )


def _outbound_rows(session: Session, q: Any) -> list[MessageSummary]:
    return [
        MessageSummary(f"{OUTBOUND}-{pk}", "outbound", mid, dtype, None, recipient, "datahub", status, ack,
                       len(errors or []), None, at, accounting_point=point)
        for pk, mid, dtype, recipient, status, ack, errors, point, at in session.execute(q)
    ]


def _inbound(session: Session, f: MessageFilter, cursor: Any, limit: int) -> list[MessageSummary]:
    m = MessageRecord
    q = _where(
        _inbound_columns(),
        col(m.message_id) == f.message_id if f.message_id else None,
        col(m.sender_gln) == f.party if f.party else None,
        col(m.document_type) == f.document_type if f.document_type else None,
        col(m.status) == f.status if f.status else None,
        col(m.id).in_(_messages_of_point(f.gsrn)) if f.gsrn else None,
        col(m.id).in_(select(col(TransactionRecord.message_pk)).where(
            col(TransactionRecord.transaction_id) == f.transaction_id)) if f.transaction_id else None,
        *_times(col(m.received_at), f),
        _after(col(m.received_at), col(m.id), INBOUND, cursor),
    ).order_by(col(m.received_at).desc(), col(m.id).desc()).limit(limit)
    return _inbound_rows(session, q)


def _outbound(session: Session, f: MessageFilter, cursor: Any, limit: int) -> list[MessageSummary]:
    if f.transaction_id:
        return []  # our outbound transaction ids are only in the documents
    o = OutboundMessage
    q = _where(
        _outbound_columns(),
        col(o.message_id) == f.message_id if f.message_id else None,
        col(o.recipient_gln) == f.party if f.party else None,
        col(o.document_type) == f.document_type if f.document_type else None,
        col(o.status) == f.status if f.status else None,
        col(o.accounting_point) == f.gsrn if f.gsrn else None,
        *_times(col(o.created_at), f),
        _after(col(o.created_at), col(o.id), OUTBOUND, cursor),
    ).order_by(col(o.created_at).desc(), col(o.id).desc()).limit(limit)
    return _outbound_rows(session, q)


def _price_files(session: Session, f: MessageFilter, cursor: Any, limit: int) -> list[MessageSummary]:
    if f.gsrn or f.transaction_id or f.party or (f.status and f.status != "imported"):
        return []
    p = SpotPriceImport
    formats = [k for k, v in PRICE_FORMATS.items() if v == f.document_type] if f.document_type else None
    if formats == []:
        return []
    q = _where(
        select(p),
        col(p.format).in_(formats) if formats else None,
        col(p.document_id) == f.message_id if f.message_id else None,
        *_times(col(p.imported_at), f),
        _after(col(p.imported_at), col(p.id), PRICE_FILE, cursor),
    ).order_by(col(p.imported_at).desc(), col(p.id).desc()).limit(limit)
    return [
        MessageSummary(f"{PRICE_FILE}-{row.id}", "file", row.document_id, PRICE_FORMATS.get(row.format, row.format),
                       None, None, "cli", "imported", None, 0, None, row.imported_at, source=row.source,
                       extra={"intervals": row.intervals, "new_intervals": row.new_intervals,
                              "changed_intervals": row.changed_intervals})
        for row in session.execute(q).scalars()
    ]


def _catalogues(session: Session, f: MessageFilter, cursor: Any, limit: int) -> list[MessageSummary]:
    if (f.gsrn or f.transaction_id or f.party or f.message_id or (f.status and f.status != "loaded")
            or (f.document_type and f.document_type != "CATALOGUE")):
        return []
    c = CatalogueVersion
    q = _where(
        select(col(c.id), col(c.source), col(c.sha256), col(c.format), col(c.loaded_at)),
        *_times(col(c.loaded_at), f),
        _after(col(c.loaded_at), col(c.id), CATALOGUE, cursor),
    ).order_by(col(c.loaded_at).desc(), col(c.id).desc()).limit(limit)
    return [
        MessageSummary(f"{CATALOGUE}-{pk}", "file", sha[:12], "CATALOGUE", None, None, "cli", "loaded", None, 0,
                       None, at, source=source, extra={"format": fmt})
        for pk, source, sha, fmt, at in session.execute(q)
    ]


def _invoice_columns() -> Any:
    i = InvoiceRow
    first_point = select(func.min(col(InvoiceLineRow.accounting_point))).where(
        col(InvoiceLineRow.invoice_id) == col(i.id)).scalar_subquery()
    return select(
        col(i.id), col(i.number), col(i.kind), col(i.channel), col(i.status), col(i.released_at),
        col(i.entity_id), first_point,
    )


def _invoice_rows(session: Session, q: Any) -> list[MessageSummary]:
    return [
        MessageSummary(f"{INVOICE}-{pk}", "outbound", number, INVOICE_TYPES.get(kind, kind), None, None, channel,
                       status, None, 0, None, at, accounting_point=point, source=entity)
        for pk, number, kind, channel, status, at, entity, point in session.execute(q)
    ]


def _invoices(session: Session, f: MessageFilter, cursor: Any, limit: int) -> list[MessageSummary]:
    """Released invoices and credit notes: what invoicing sent out (to the customer, through the provider)."""
    if f.transaction_id or f.party:
        return []  # an invoice has no Datahub transaction, and its recipient is a customer, not a market party
    if f.status and f.status not in INVOICE_STATUSES:
        return []  # e.g. "rejected": no invoice has it, so no need to scan them for it
    kinds = [k for k, v in INVOICE_TYPES.items() if v == f.document_type] if f.document_type else None
    if kinds == []:
        return []
    i = InvoiceRow
    q = _where(
        _invoice_columns(),
        col(i.released_at).is_not(None),
        col(i.kind).in_(kinds) if kinds else None,
        col(i.number) == f.message_id if f.message_id else None,
        col(i.status) == f.status if f.status else None,
        col(i.id).in_(select(col(InvoiceLineRow.invoice_id)).where(
            col(InvoiceLineRow.accounting_point) == f.gsrn)) if f.gsrn else None,
        *_times(col(i.released_at), f),
        _after(col(i.released_at), col(i.id), INVOICE, cursor),
    ).order_by(col(i.released_at).desc(), col(i.id).desc()).limit(limit)
    return _invoice_rows(session, q)


# -- receivables: bank files, provider calls, webhook batches ----------------------------------------------------
def _bank_columns() -> Any:
    b = BankFileRow
    account = select(func.min(col(BankEntryRow.account))).where(
        col(BankEntryRow.file_id) == col(b.id)).scalar_subquery()
    return select(col(b.id), col(b.name), col(b.format), col(b.imported_at), col(b.entries), col(b.allocated),
                  col(b.unmatched), col(b.already_imported), col(b.sha256), col(b.size), account)


def _bank_rows(session: Session, q: Any) -> list[MessageSummary]:
    return [
        MessageSummary(f"{BANK_FILE}-{pk}", "inbound", name, BANK_FORMATS.get(fmt, fmt.upper()), None, account,
                       "cli", "imported", None, 0, entries, at, source=name,
                       extra={"entries": entries, "allocated": allocated, "unmatched": unmatched,
                              "already_imported": already, "sha256": sha256, "size": size})
        for pk, name, fmt, at, entries, allocated, unmatched, already, sha256, size, account in session.execute(q)
    ]


def _bank_files(session: Session, f: MessageFilter, cursor: Any, limit: int) -> list[MessageSummary]:
    if f.gsrn or f.transaction_id or f.party or (f.status and f.status != "imported"):
        return []  # a bank file's party is an IBAN, never a market party's GLN
    formats = [k for k, v in BANK_FORMATS.items() if v == f.document_type] if f.document_type else None
    if formats == []:
        return []
    b = BankFileRow
    q = _where(
        _bank_columns(),
        col(b.format).in_(formats) if formats else None,
        col(b.name) == f.message_id if f.message_id else None,
        *_times(col(b.imported_at), f),
        _after(col(b.imported_at), col(b.id), BANK_FILE, cursor),
    ).order_by(col(b.imported_at).desc(), col(b.id).desc()).limit(limit)
    return _bank_rows(session, q)


def _market_party(f: MessageFilter) -> bool:
    """The filter names a market party (a valid GLN): the payment provider's accounts are never one, so the
    provider's sources need no query (every source costs a round trip on each search)."""
    return bool(f.party) and is_valid_gln(str(f.party))


def _provider_columns() -> Any:
    r = ProviderRequestRow
    return select(col(r.id), col(r.kind), col(r.identity), col(r.account), col(r.status), col(r.invoice_id),
                  col(r.created_at), col(r.sent_at))


def _provider_rows(session: Session, q: Any) -> list[MessageSummary]:
    return [
        MessageSummary(f"{PROVIDER_CALL}-{pk}", "outbound", identity, PROVIDER_TYPES.get(kind, kind.upper()), None,
                       account, "provider", status, None, 0, None, at, source=f"invoice {invoice_id}",
                       extra={"kind": kind, "invoice_id": invoice_id, "sent_at": sent_at.isoformat() if sent_at
                              else None})
        for pk, kind, identity, account, status, invoice_id, at, sent_at in session.execute(q)
    ]


def _provider_calls(session: Session, f: MessageFilter, cursor: Any, limit: int) -> list[MessageSummary]:
    if f.transaction_id or _market_party(f):
        return []
    kinds = [k for k, v in PROVIDER_TYPES.items() if v == f.document_type] if f.document_type else None
    if kinds == []:
        return []
    r = ProviderRequestRow
    q = _where(
        _provider_columns(),
        col(r.kind).in_(kinds) if kinds else None,
        col(r.identity) == f.message_id if f.message_id else None,
        col(r.account) == f.party if f.party else None,  # the provider account (not a GLN)
        col(r.status) == f.status if f.status else None,
        col(r.invoice_id).in_(select(col(InvoiceLineRow.invoice_id)).where(
            col(InvoiceLineRow.accounting_point) == f.gsrn)) if f.gsrn else None,
        *_times(col(r.created_at), f),
        _after(col(r.created_at), col(r.id), PROVIDER_CALL, cursor),
    ).order_by(col(r.created_at).desc(), col(r.id).desc()).limit(limit)
    return _provider_rows(session, q)


def _webhook_columns() -> Any:
    w = ProviderWebhookRow
    return select(col(w.id), col(w.batch_id), col(w.account), col(w.status), col(w.error), col(w.received_at),
                  col(w.stored), col(w.duplicates), col(w.unknown), col(w.sha256))


def _webhook_rows(session: Session, q: Any) -> list[MessageSummary]:
    return [
        MessageSummary(f"{WEBHOOK}-{pk}", "inbound", batch, WEBHOOK_TYPE, None, account, "webhook", status, None,
                       1 if error else 0, stored + duplicates, at, source="payment provider",
                       extra={"stored": stored, "duplicates": duplicates, "unknown": unknown, "error": error,
                              "sha256": sha256})
        for pk, batch, account, status, error, at, stored, duplicates, unknown, sha256 in session.execute(q)
    ]


def _webhooks(session: Session, f: MessageFilter, cursor: Any, limit: int) -> list[MessageSummary]:
    if f.gsrn or f.transaction_id or _market_party(f) or (f.document_type and f.document_type != WEBHOOK_TYPE):
        return []
    w = ProviderWebhookRow
    q = _where(
        _webhook_columns(),
        col(w.account) == f.party if f.party else None,
        col(w.batch_id) == f.message_id if f.message_id else None,
        col(w.status) == f.status if f.status else None,
        *_times(col(w.received_at), f),
        _after(col(w.received_at), col(w.id), WEBHOOK, cursor),
    ).order_by(col(w.received_at).desc(), col(w.id).desc()).limit(limit)
    return _webhook_rows(session, q)


_SOURCES: Final[dict[str, Callable[[Session, MessageFilter, Any, int], list[MessageSummary]]]] = {
    INBOUND: _inbound, OUTBOUND: _outbound, PRICE_FILE: _price_files, CATALOGUE: _catalogues, INVOICE: _invoices,
    BANK_FILE: _bank_files, PROVIDER_CALL: _provider_calls, WEBHOOK: _webhooks,
}


def _decode(cursor: str | None) -> tuple[datetime, int, int] | None:
    key = decode_cursor(cursor, 3)
    if key is None:
        return None
    try:
        at = datetime.fromisoformat(str(key[0]))
        rank, pk = int(key[1]), int(key[2])
    except (TypeError, ValueError):
        raise BadQuery("cursor is not one this service issued") from None
    if at.tzinfo is None:
        raise BadQuery("cursor is not one this service issued")
    return at, rank, pk


def search_messages(session: Session, f: MessageFilter, *, limit: int, cursor: str | None = None
                    ) -> Page[MessageSummary]:
    after = _decode(cursor)
    kinds = [k for k in KINDS if f.direction is None or DIRECTIONS[k] == f.direction]
    found: list[MessageSummary] = []
    for kind in kinds:
        found.extend(_SOURCES[kind](session, f, after, limit + 1))
    found.sort(key=lambda s: s.sort_key, reverse=True)
    page = found[:limit]
    more = len(found) > limit
    next_cursor = None
    if more and page:
        at, rank, pk = page[-1].sort_key
        next_cursor = encode_cursor([at.isoformat(), rank, pk])
    return Page(page, next_cursor)


def summaries(session: Session, refs: Iterable[MessageRef]) -> dict[str, MessageSummary]:
    """Summaries of known messages by id (for lineage and pages); unknown ids are left out."""
    by_kind: dict[str, set[int]] = {}
    for ref in refs:
        by_kind.setdefault(ref.kind, set()).add(ref.pk)
    found: list[MessageSummary] = []
    for kind, pks in by_kind.items():
        for chunk in _chunks(sorted(pks), 500):
            if kind == INBOUND:
                found += _inbound_rows(session, _inbound_columns().where(col(MessageRecord.id).in_(chunk)))
            elif kind == OUTBOUND:
                found += _outbound_rows(session, _outbound_columns().where(col(OutboundMessage.id).in_(chunk)))
            elif kind == INVOICE:
                found += _invoice_rows(session, _invoice_columns().where(col(InvoiceRow.id).in_(chunk),
                                                                         col(InvoiceRow.released_at).is_not(None)))
            elif kind == BANK_FILE:
                found += _bank_rows(session, _bank_columns().where(col(BankFileRow.id).in_(chunk)))
            elif kind == PROVIDER_CALL:
                found += _provider_rows(session, _provider_columns().where(col(ProviderRequestRow.id).in_(chunk)))
            elif kind == WEBHOOK:
                found += _webhook_rows(session, _webhook_columns().where(col(ProviderWebhookRow.id).in_(chunk)))
            else:
                found += [one for pk in chunk if (one := _one_file(session, MessageRef(kind, pk))) is not None]
    return {s.id: s for s in found}


def _one_file(session: Session, ref: MessageRef) -> MessageSummary | None:
    if ref.kind == PRICE_FILE:
        row = session.get(SpotPriceImport, ref.pk)
        if row is None:
            return None
        return MessageSummary(ref.id, "file", row.document_id, PRICE_FORMATS.get(row.format, row.format), None,
                              None, "cli", "imported", None, 0, None, row.imported_at, source=row.source,
                              extra={"intervals": row.intervals, "new_intervals": row.new_intervals,
                                     "changed_intervals": row.changed_intervals, "sha256": row.sha256,
                                     "document_revision": row.document_revision})
    cat = session.get(CatalogueVersion, ref.pk)
    if cat is None:
        return None
    return MessageSummary(ref.id, "file", cat.sha256[:12], "CATALOGUE", None, None, "cli", "loaded", None, 0, None,
                          cat.loaded_at, source=cat.source, extra={"format": cat.format, "sha256": cat.sha256})


def summary_of(session: Session, ref: MessageRef) -> MessageSummary | None:
    return summaries(session, [ref]).get(ref.id)


def _chunks(values: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


__all__ = ["MessageFilter", "MessageRef", "MessageSummary", "search_messages", "summaries", "summary_of"]
