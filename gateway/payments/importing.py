"""Importing a bank payment file: every entry allocated and stored, in one transaction per file.

For each file: the format is recognised from the content, the exact bytes are archived (``bank_file``: name,
SHA-256, size, format, time and what this import did), then the entries arrive in batches
(``gateway.payments.entry_reader``: a large file is parsed in a helper process meanwhile) and each is decided
by the pure ``allocate`` (gateway/payments/core/allocation.py) against what the store knows:

* the receiving IBAN selects the legal entity (the active catalogue's accounts; none loaded → every account
  is someone else's, and the entry waits in the unmatched queue as ``unknown_account``);
* an entry whose (account, bank entry reference) is stored already — by an earlier import or earlier in this
  file — is ``already_imported`` and changes nothing;
* the references with a valid check digit are looked up in bulk, a batch at a time, and the invoices behind
  them read with their payment state and locked for the rest of the transaction (``FOR UPDATE`` on
  PostgreSQL; SQLite's writer holds the database) so two imports never spend the same open amount;
* a reversal finds its original (same account, amount and reference; the newest not yet reversed) and undoes
  exactly what the original's decision did.

The decisions become rows in bulk (entries, allocations, the unmatched queue, customer credit through
``gateway.billing.service.add_adjustments`` kind ``credit``; ids drawn up front, rows by COPY on PostgreSQL),
the invoices' paid amounts and payment statuses are recomputed once for the file (``gateway.payments.ledger``),
and every payment put on an invoice of an entity with a provider account is queued for the provider
(``POST /jobs/payment``): the ``provider_request`` rows and their ``payments.provider_request`` messages are
made by the database from the allocation rows (``INSERT … SELECT``, ``outbox.enqueue_select``). The
transaction commits only after the last entry: a file that turns out invalid halfway stores nothing. The
cyclic garbage collector is paused meanwhile (``gateway.runtime.collector_paused``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import JSON, Numeric, String, case, cast, func, insert, literal, null, select, type_coerce, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from gateway.billing.core.reference import national_from_rf
from gateway.billing.service import NewAdjustment, add_adjustments
from gateway.events import PROVIDER_REQUEST
from gateway.payments import ledger
from gateway.payments.bankfiles import DEFAULT_MAX_BANK_FILE_BYTES, BankFile
from gateway.payments.core.allocation import (
    AccountStatus,
    Allocation,
    CustomerCredit,
    Decision,
    DecisionStatus,
    OpenItem,
    Unmatched,
    UnmatchedReason,
    allocate,
    classify_account,
)
from gateway.payments.core.entries import BankEntry, CreditDebit
from gateway.payments.entities import catalogue_entities, compact_account, own_accounts, provider_account
from gateway.payments.entry_reader import entry_batches
from gateway.rating.core.catalogue import LegalEntity
from gateway.runtime import collector_paused
from gateway.store.billing_tables import InvoiceRow
from gateway.store.payments_tables import (
    BankEntryRow,
    BankFileRow,
    PaymentAllocationRow,
    ProviderRequestRow,
    UnmatchedPaymentRow,
)
from gateway.store.queries import draw_ids, insert_rows
from outbox.types import UTCDateTime, utcnow

BATCH: Final = 2_000


@dataclass
class ImportResult:
    file: str
    format: str
    entries: int = 0
    allocated: int = 0
    unmatched: int = 0
    already_imported: int = 0
    file_id: int | None = None
    sha256: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "format": self.format, "entries": self.entries, "allocated": self.allocated,
                "unmatched": self.unmatched, "already_imported": self.already_imported}


def import_bank_file(engine: Engine, name: str, data: bytes, *, max_bytes: int = DEFAULT_MAX_BANK_FILE_BYTES,
                     now: datetime | None = None, parallel: bool | None = None) -> ImportResult:
    """Import one bank file's bytes; raises ``BankFileError`` (and stores nothing) when it is not a valid
    camt.054.001.02 or KTL file. ``parallel``: read the file in a helper process (None: when it is large;
    ``gateway.payments.entry_reader``)."""
    bank = BankFile.from_bytes(name, data, max_bytes=max_bytes)
    with (collector_paused(), entry_batches(bank, data, BATCH, parallel=parallel, max_bytes=max_bytes) as batches,
          Session(engine) as session, session.begin()):
        return _Importer(session, bank, data, now or utcnow()).run(batches)


def decision_to_json(decision: Decision) -> dict[str, Any]:
    return {"allocations": [[a.invoice, a.reference, str(a.amount)] for a in decision.allocations],
            "credits": [[c.customer, str(c.amount)] for c in decision.credits],
            "unmatched": [[str(u.amount), u.reason.value, u.reference] for u in decision.unmatched]}


def decision_from_json(entry_ref: str, amount: Decimal, data: Mapping[str, Any]) -> Decision:
    return Decision(
        entry_ref, amount,
        allocations=tuple(Allocation(str(i), str(r), Decimal(a)) for i, r, a in data.get("allocations", [])),
        credits=tuple(CustomerCredit(str(c), Decimal(a)) for c, a in data.get("credits", [])),
        unmatched=tuple(Unmatched(Decimal(a), UnmatchedReason(r), ref) for a, r, ref in data.get("unmatched", [])))


@dataclass
class _Pending:
    entry: BankEntry
    account: str
    entity: str | None
    decision: Decision
    references: tuple[str, ...] = ()  # the entry's valid references, or else every reference it gave
    original_id: int | None = None
    original_unmatched: list[int] = field(default_factory=list)


class _Importer:
    def __init__(self, session: Session, bank: BankFile, data: bytes, now: datetime) -> None:
        self.session = session
        self.bank = bank
        self.now = now
        self.result = ImportResult(bank.name, bank.format.value, sha256=hashlib.sha256(data).hexdigest())
        self.data = data
        self.entities: Mapping[str, LegalEntity] = catalogue_entities(session)
        self.own = own_accounts(self.entities)
        self.states: dict[int, ledger.InvoiceState] = {}
        self.by_reference: dict[tuple[str, str], tuple[int, date]] = {}  # (entity, national) → invoice, due
        self.looked_up: set[tuple[str, str]] = set()
        self.seen: set[tuple[str, str]] = set()
        self.pending: list[_Pending] = []
        self.accounts: dict[str, tuple[str, AccountStatus]] = {}  # as delivered → compact, ours or not

    def _account(self, delivered: str) -> tuple[str, AccountStatus]:
        known = self.accounts.get(delivered)
        if known is None:  # a file has one account or a few: classify each once
            known = self.accounts[delivered] = (compact_account(delivered), classify_account(delivered, self.own))
        return known

    def run(self, batches: Iterable[list[BankEntry]]) -> ImportResult:
        row = BankFileRow(name=self.bank.name[:300], sha256=self.result.sha256, size=len(self.data),
                          format=self.bank.format.value, content=self.data, imported_at=self.now, entries=0,
                          allocated=0, unmatched=0, already_imported=0)
        self.session.add(row)
        self.session.flush()
        assert row.id is not None
        self.result.file_id = row.id
        for batch in batches:
            self._decide(batch)
        self._flush()
        ledger.write(self.session, self.states.values())
        self._queue_requests()
        r = self.result
        row.entries, row.allocated, row.unmatched, row.already_imported = (
            r.entries, r.allocated, r.unmatched, r.already_imported)
        return r

    # -- deciding ---------------------------------------------------------------------------------------------
    def _decide(self, batch: list[BankEntry]) -> None:
        if not batch:
            return
        accounts = [self._account(e.account)[0] for e in batch]
        valid = [e.valid_references() for e in batch]  # the check digits are computed once per entry
        stored = self._stored_keys({(a, e.entry_ref[:100]) for a, e in zip(accounts, batch, strict=True)})
        self._look_up_invoices([(a, v) for a, e, v in zip(accounts, batch, valid, strict=True)
                                if not e.reversal and e.credit_debit is CreditDebit.CREDIT])
        for account, entry, references in zip(accounts, batch, valid, strict=True):
            self.result.entries += 1
            key = (account, entry.entry_ref[:100])
            if key in stored or key in self.seen:
                self.result.already_imported += 1
                continue
            self.seen.add(key)
            entity = self.own.get(account)
            status = self._account(entry.account)[1]
            if entry.reversal and entry.credit_debit is CreditDebit.DEBIT and status is AccountStatus.OURS:
                self._flush()  # the original may be waiting in this batch
                pending = self._reverse(entry, account, entity)
            else:
                decision = allocate(entry, account=status, open_items=self._open_items(entity, references))
                pending = _Pending(entry, account, entity, decision, references or entry.reference_texts())
                for a in decision.allocations:
                    self.states[int(a.invoice)].allocated += a.amount
            self.pending.append(pending)
            if pending.decision.status in (DecisionStatus.ALLOCATED, DecisionStatus.REVERSED):
                self.result.allocated += 1
            else:
                self.result.unmatched += 1

    def _stored_keys(self, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
        refs = sorted({ref for _, ref in keys})
        found: set[tuple[str, str]] = set()
        for part in ledger.chunks(refs):
            found |= {(a, r) for a, r in self.session.execute(
                select(col(BankEntryRow.account), col(BankEntryRow.entry_ref)).where(
                    ledger.in_strings(self.session, col(BankEntryRow.entry_ref), part)))}
        return found & keys

    def _look_up_invoices(self, entries: Iterable[tuple[str, tuple[str, ...]]]) -> None:
        """Find the invoices behind these (account, valid references) and load their states, locked."""
        wanted: dict[str, set[str]] = {}
        for account, valid in entries:
            entity = self.own.get(account)
            if entity is None:
                continue
            for reference in valid:
                national = _national(reference)
                if national and (entity, national) not in self.looked_up:
                    self.looked_up.add((entity, national))
                    wanted.setdefault(entity, set()).add(national)
        for entity, references in wanted.items():
            for part in ledger.chunks(sorted(references)):
                # The states are read with the lookup, locked: one query per part, not one to find the invoices
                # and another to load them.
                found: dict[int, ledger.InvoiceState] = {}
                for row in self.session.execute(
                        select(*ledger.STATE_COLUMNS, col(InvoiceRow.reference), col(InvoiceRow.due_date)).where(
                            col(InvoiceRow.entity_id) == entity, col(InvoiceRow.kind) == "invoice",
                            ledger.in_strings(self.session, col(InvoiceRow.reference), part)).with_for_update()):
                    invoice_id = int(row[0] or 0)
                    self.by_reference[(entity, row[-2])] = (invoice_id, row[-1])
                    if invoice_id not in self.states:
                        found[invoice_id] = ledger.state_of(row)
                ledger.add_payments(self.session, found)
                self.states.update(found)

    def _open_items(self, entity: str | None, valid: tuple[str, ...]) -> list[OpenItem]:
        if entity is None:
            return []
        items = []
        for reference in valid:
            found = self.by_reference.get((entity, _national(reference) or ""))
            if found is None:
                continue
            state = self.states[found[0]]
            items.append(OpenItem(str(state.invoice_id), reference, str(state.customer_id), state.open_amount,
                                  found[1]))
        return items

    def _reverse(self, entry: BankEntry, account: str, entity: str | None) -> _Pending:
        references = entry.valid_references() or entry.reference_texts()
        q = select(BankEntryRow).where(
            col(BankEntryRow.account) == account, col(BankEntryRow.amount) == f"{entry.amount:.2f}",
            col(BankEntryRow.credit_debit) == CreditDebit.CREDIT.value, col(BankEntryRow.reversal).is_(False),
            col(BankEntryRow.reversed_by_entry_id).is_(None))
        if references:
            q = q.where(col(BankEntryRow.reference) == references[0][:35])
        original = self.session.execute(q.order_by(col(BankEntryRow.id).desc()).limit(1)).scalar_one_or_none()
        if original is None:
            return _Pending(entry, account, entity, allocate(entry, account=AccountStatus.OURS),
                            references)
        decision = allocate(entry, account=AccountStatus.OURS, original=decision_from_json(
            original.entry_ref, Decimal(original.amount), original.decision))
        invoice_ids = [int(a.invoice) for a in decision.allocations if int(a.invoice) not in self.states]
        if invoice_ids:
            self.states.update(ledger.load_states(self.session, invoice_ids, lock=True))
        for a in decision.allocations:
            self.states[int(a.invoice)].allocated += a.amount
        unmatched = [u.id for u in self.session.execute(select(UnmatchedPaymentRow).where(
            col(UnmatchedPaymentRow.entry_id) == original.id)).scalars() if u.id is not None]
        return _Pending(entry, account, entity, decision, references, original_id=original.id,
                        original_unmatched=unmatched)

    # -- storing ----------------------------------------------------------------------------------------------
    def _flush(self) -> None:
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        ids = draw_ids(self.session, BankEntryRow.__table__, len(pending))  # type: ignore[attr-defined]
        rows = []
        for p, entry_id in zip(pending, ids, strict=True):
            e, d, references = p.entry, p.decision, p.references
            rows.append({
                "id": entry_id, "file_id": self.result.file_id, "account": p.account, "entry_ref": e.entry_ref[:100],
                "format": e.source_format.value, "credit_debit": e.credit_debit.value, "reversal": e.reversal,
                "amount": f"{e.signed_amount:.2f}" if e.credit_debit is CreditDebit.DEBIT else f"{e.amount:.2f}",
                "currency": e.currency[:3], "booking_date": e.booking_date, "value_date": e.value_date,
                "payer_name": (e.payer_name or None) and e.payer_name[:140] if e.payer_name else None,
                "reference": references[0][:35] if references else None, "status": d.status.value,
                "entity_id": p.entity, "reversal_of_entry_id": p.original_id, "reversed_by_entry_id": None,
                "decision": decision_to_json(d), "created_at": self.now,
            })
        insert_rows(self.session, BankEntryRow.__table__, rows)  # type: ignore[attr-defined]
        allocations: list[dict[str, Any]] = []
        unmatched: list[dict[str, Any]] = []
        credits: list[tuple[dict[str, Any], NewAdjustment]] = []  # the allocation row waits for its adjustment's id
        for p, entry_id in zip(pending, ids, strict=True):
            self._store_decision(p, entry_id, allocations, unmatched, credits)
        for (allocation, _), adjustment_id in zip(credits, add_adjustments(self.session, [c for _, c in credits]),
                                                  strict=True):
            allocation["adjustment_id"] = adjustment_id
        insert_rows(self.session, PaymentAllocationRow.__table__, allocations)  # type: ignore[attr-defined]
        insert_rows(self.session, UnmatchedPaymentRow.__table__, unmatched)  # type: ignore[attr-defined]

    def _store_decision(self, p: _Pending, entry_id: int, allocations: list[dict[str, Any]],
                        unmatched: list[dict[str, Any]], credits: list[tuple[dict[str, Any], NewAdjustment]]) -> None:
        e, d = p.entry, p.decision
        source = "reversal" if p.original_id is not None else "bank"
        for a in d.allocations:
            state = self.states[int(a.invoice)]
            allocations.append({"entry_id": entry_id, "unmatched_id": None, "kind": "invoice",
                                "invoice_id": state.invoice_id, "customer_id": state.customer_id,
                                "entity_id": state.entity, "amount": f"{a.amount:.2f}", "paid_on": e.booking_date,
                                "adjustment_id": None, "source": source, "created_at": self.now})
        for c in d.credits:
            entity = p.entity or ""
            allocation = {"entry_id": entry_id, "unmatched_id": None, "kind": "credit", "invoice_id": None,
                          "customer_id": int(c.customer), "entity_id": entity, "amount": f"{c.amount:.2f}",
                          "paid_on": e.booking_date, "adjustment_id": None, "source": source, "created_at": self.now}
            allocations.append(allocation)
            credits.append((allocation, NewAdjustment(
                customer_id=int(c.customer), entity=entity, kind="credit", amount=-c.amount,
                description=("Overpayment" if c.amount > 0 else "Overpayment taken back")
                + f" ({e.booking_date:%d.%m.%Y})", source=f"bank entry {e.entry_ref}"[:300])))
        reversed_rows = list(p.original_unmatched)
        for u in d.unmatched:
            if u.amount < 0 and reversed_rows and self._cancel_unmatched(reversed_rows.pop(0), -u.amount):
                continue
            unmatched.append({"entry_id": entry_id, "amount": f"{u.amount:.2f}", "allocated_amount": "0.00",
                              "reference": (u.reference or None) and u.reference[:35] if u.reference else None,
                              "account": p.account, "reason": u.reason.value, "status": "open",
                              "booking_date": e.booking_date,
                              "payer_name": e.payer_name[:140] if e.payer_name else None, "created_at": self.now,
                              "resolved_at": None})
        if p.original_id is not None:
            self.session.execute(update(BankEntryRow).where(col(BankEntryRow.id) == p.original_id).values(
                reversed_by_entry_id=entry_id))

    def _cancel_unmatched(self, unmatched_id: int, amount: Decimal) -> bool:
        """The original's unmatched money is taken back by the bank: closed, if nobody allocated it meanwhile."""
        done = self.session.execute(update(UnmatchedPaymentRow).where(
            col(UnmatchedPaymentRow.id) == unmatched_id, col(UnmatchedPaymentRow.status) == "open",
            col(UnmatchedPaymentRow.allocated_amount) == "0.00",
            col(UnmatchedPaymentRow.amount) == f"{amount:.2f}").values(status="reversed", resolved_at=self.now))
        return bool(done.rowcount)  # type: ignore[attr-defined]

    def _queue_requests(self) -> None:
        """Every positive amount this file put on an invoice of an entity with a provider account becomes a
        queued payment report and its outbox message, both made by the database from the allocation rows just
        written (in allocation order): per payment, nothing passes through Python."""
        accounts = {entity: account for entity in self.entities
                    if (account := provider_account(self.entities.get(entity))) is not None}
        if not accounts:
            return
        tables = [t.__table__ for t in (PaymentAllocationRow, BankEntryRow, InvoiceRow)]  # type: ignore[union-attr]
        a, e, i = (t.c for t in tables)
        dialect = self.session.get_bind().dialect.name
        identifier = func.substr(e.entry_ref, 1, 80) + ":" + i.number
        body = _json_object(dialect, "amount", a.amount, "paydate", cast(e.booking_date, String()),
                            "identifier", identifier, "type", "directpayment")
        payments = select(
            literal("payment", String()), func.substr(identifier, 1, 120),
            case(accounts, value=i.entity_id), i.id, body, literal("queued", String()), null(),
            literal(self.now, UTCDateTime()), null(),
        ).select_from(tables[0].join(tables[1], e.id == a.entry_id).join(tables[2], i.id == a.invoice_id)).where(
            e.file_id == self.result.file_id, a.kind == "invoice", cast(a.amount, Numeric()) > 0,
            i.entity_id.in_(sorted(accounts))).order_by(a.id)
        table = ProviderRequestRow.__table__  # type: ignore[attr-defined]
        ids = list(self.session.execute(insert(table).from_select(
            ["kind", "identity", "account", "invoice_id", "body", "status", "answer", "created_at", "sent_at"],
            payments).returning(table.c.id)).scalars())
        r = table.c
        for part in ledger.chunks(sorted(ids)):
            PROVIDER_REQUEST.emit_select(self.session, select(
                _json_object(dialect, "request_id", r.id).label("payload"),
                ("invoice:" + cast(r.invoice_id, String())).label("key"), r.id.label("position"),
            ).where(ledger.in_ids(self.session, r.id, part)))


def _json_object(dialect: str, *pairs: Any) -> ColumnElement[Any]:
    """A JSON object built by the database from name, value, name, value, …"""
    build = func.json_build_object if dialect == "postgresql" else func.json_object
    return type_coerce(build(*(literal(p, String()) if isinstance(p, str) else p for p in pairs)), JSON)


def _national(reference: str) -> str | None:
    return national_from_rf(reference) if reference.startswith("RF") else reference
