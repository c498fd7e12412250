"""The one receive pipeline. Every entry point (our SOAP endpoint, the Datahub pull worker, `gateway ingest`)
hands raw bytes here and gets one outcome back.

parse (hardened) → schema by root namespace → XSD (every error, with line and column) → mapping → process
rules → event rules → ONE transaction: compressed raw archive + message registry (unique per sender and
message id) + transaction registry + domain change + outbox rows (+ the ACK queued for the sender).
Schema and process errors are answered as SOAP Faults by the endpoint, event errors as BA02/BA03 ACKs.

`receive_many` (for `gateway ingest` over many files) gives the same outcomes with group commit: runs of
metering messages accepted outright share one transaction; everything else takes the one-message path.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from lxml import etree
from sqlalchemy import or_, select, union, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.apply import (
    TOPIC_RELEASE_PARKED,
    active_agreements,
    apply_transactions,
    release_parked_for,
    store_metering_batch,
)
from gateway.domain.codes import ACK_STATUS
from gateway.domain.message import DatahubMessage, MessageHeader
from gateway.parties import PartyInfo, party_info
from gateway.process_rules import check_process
from gateway.store.constraints import violated_constraint
from gateway.store.metadata import all_metadata
from gateway.store.queries import in_values, insert_rows, insert_rows_returning_ids
from gateway.store.rating_tables import ProductAssignmentRow
from gateway.store.tables import (
    UQ_MESSAGE,
    UQ_SERIES_VERSION,
    UQ_TRANSACTION,
    AccountingPointRow,
    MessageRecord,
    ParkedMessage,
    Party,
    PartyQueueItem,
    RawMessage,
    SalesAgreementRow,
    TransactionRecord,
)
from gateway.validation import EC, CheckResult, EventError, TransactionResult, check_message, known_in
from gateway.xml.hardened import XmlInputError, parse_xml
from gateway.xml.schemas import SchemaEntry, SchemaIssue, SchemaRegistry, UnknownSchemaError, default_registry
from gateway.xml.validate_ahead import ValidationHelper, Verdicts, second_core_available
from mappings.ack import build_ack_for
from mappings.registry import UnknownDocumentError, mapping_for
from outbox import enqueue
from outbox.types import utcnow

log = logging.getLogger("gateway.receive")

ACCEPTED = "accepted"
PARTIALLY_ACCEPTED = "partially_accepted"
REJECTED = "rejected"
DUPLICATE = "duplicate"
PARKED = "parked"

SCHEMA = "schema"
PROCESS = "process"
EVENT = "event"

# Channels: who delivered the bytes. Only pushes to our SOAP endpoint get an ACK queued for the sender;
# messages pulled from Datahub are confirmed by dequeueing them.
CHANNEL_SOAP = "soap"
CHANNEL_DATAHUB = "datahub"
CHANNEL_CLI = "cli"

_DUPLICATE_TRANSACTION = EC.TRANSACTION_REPEATED
PARKED_RECHECK = timedelta(minutes=1)
_ARCHIVE_LEVEL = 1  # zlib level of the raw archive: a fifth of the size of XML, at the least CPU
_COMPRESS_AHEAD = 256 * 1024
# Below this size validation takes well under a millisecond and a thread hand-off would cost more than it hides.
_MAP_WHILE_VALIDATING = 64 * 1024
_WSU_ID = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd}Id"
_RETRIES_ON_RACE = 3
_RUN = 500  # messages stored together by receive_many: bounds the transaction and the memory held
# Series per run (one message may have more): a run looks up all its ids and points at once, and SQLite allows
# 32,766 parameters per statement, three per point in the known-points query.
_RUN_SERIES = 5_000
# receive_many hands the XSD validation of small documents to a helper process when there are at least this many:
# a helper takes about 0.1 s to be ready (the stream validates itself meanwhile), so for fewer it is not started.
VALIDATION_HELPER_FROM = 100


@dataclass(frozen=True)
class Issue:
    code: str
    text: str
    line: int | None = None
    column: int | None = None
    transaction_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"code": self.code, "text": self.text, "line": self.line, "column": self.column}
        if self.transaction_id:
            d["transaction_id"] = self.transaction_id
        return d


@dataclass(frozen=True)
class ReceiveOutcome:
    result: str
    level: str | None
    message_id: str | None
    document_type: str | None
    reason_code: str | None = None
    errors: tuple[Issue, ...] = ()
    ack: bytes | None = field(default=None, repr=False)
    message_pk: int | None = None
    transactions: int = 0
    sender_gln: str | None = None

    @property
    def is_fault(self) -> bool:
        """Schema and process rejections are SOAP Faults; event results travel as ACK messages."""
        return self.result == REJECTED and self.level in (SCHEMA, PROCESS)

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "document_type": self.document_type,
            "result": self.result,
            "reason_code": self.reason_code,
            "errors": [i.to_dict() for i in self.errors],
        }


@dataclass
class _Draft:
    """What the commit step writes; built by the checks, completed with ids in the transaction."""

    data: bytes
    digest: str
    sender: str
    channel: str
    status: str
    level: str | None
    message_id: str | None
    document_type: str | None = None
    business_process: str | None = None
    reason_code: str | None = None
    errors: tuple[Issue, ...] = ()
    message: DatahubMessage[Any] | None = None
    check: CheckResult | None = None
    waiting_for: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Refusal:
    """A document refused before any lookup: unreadable, of an unknown schema, XSD-invalid or not accepted."""

    level: str
    issues: tuple[Issue, ...]
    message_id: str | None = None
    document_type: str | None = None
    look_for_resend: bool = False  # a resend of a stored refusal is answered as the original was


@dataclass
class _Run:
    """Messages read for one group commit, and the ids they use: a repeat must see its original committed."""

    messages: list[tuple[bytes, DatahubMessage[Any]]] = field(default_factory=list)
    archived: list[bytes | None] = field(default_factory=list)  # each one compressed already, if it was
    message_ids: set[str] = field(default_factory=set)
    transaction_ids: set[str] = field(default_factory=set)

    def add(self, data: bytes, read: DatahubMessage[Any] | _Refusal, archived: bytes | None = None) -> bool:
        """Take a read message if it is metering data that repeats no id of the run; whether it was taken."""
        if isinstance(read, _Refusal) or read.document_type != "E66" or not read.transactions:
            return False
        mid = read.header.message_id
        ids = {t.transaction_id for t in read.transactions}
        if (not mid or mid in self.message_ids or len(ids) != len(read.transactions)
                or not ids.isdisjoint(self.transaction_ids)
                or (self.messages and len(self.transaction_ids) + len(ids) > _RUN_SERIES)):
            return False
        self.messages.append((data, read))
        self.archived.append(archived)
        self.message_ids.add(mid)
        self.transaction_ids |= ids
        return True


def _hint_header(root: etree._Element) -> tuple[str | None, str | None]:
    """Best effort message id and document type from an XSD-invalid document, for the audit log."""
    mid = dtype = None
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        name = etree.QName(el).localname
        if name == "Identification" and mid is None and el.text and etree.QName(el.getparent()).localname == "Header":
            mid = el.text.strip()[:36]
        elif name == "DocumentType" and dtype is None and el.text:
            dtype = el.text.strip()[:8]
        if mid and dtype:
            break
    return mid, dtype


def _canonical(tree: etree._ElementTree) -> bytes:
    # lxml-stubs predate the c14n2 options.
    c14n = etree.tostring(tree, method="c14n2", with_comments=False, strip_text=True)  # type: ignore[call-overload]
    return hashlib.sha256(c14n).digest()


class Receiver:
    def __init__(
        self,
        engine: Engine,
        *,
        max_bytes: int = 50 * 1024 * 1024,
        schemas: SchemaRegistry | None = None,
        clock: Callable[[], datetime] = utcnow,
        validation_helper: bool = True,
    ) -> None:
        """`validation_helper`: let `receive_many` validate streams of small documents in a helper process on
        the other core (see `gateway.xml.validate_ahead`); only with the default schemas and a second core."""
        self.engine = engine
        # Checks only read: on SQLite they need no write lock (WAL readers never block the writer).
        self._reader = engine.execution_options(sqlite_begin="DEFERRED")
        self._compressor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-archive")
        self._validator = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="xsd")
        self.max_bytes = max_bytes
        self.schemas = schemas or default_registry()
        self.clock = clock
        self._metadata = all_metadata()
        self._helper = (
            ValidationHelper(max_bytes, archive_level=_ARCHIVE_LEVEL)
            if validation_helper and self.schemas is default_registry() and second_core_available() else None)

    def warm_up(self, wait: bool = False) -> None:
        """Start what `receive_many` uses for a long stream (the validation helper) now, in the background, or
        with `wait` until it is ready (to measure or test it warm). Until it is, the stream validates itself."""
        if self._helper is not None:
            if wait:
                self._helper.wait_ready()
            else:
                self._helper.start()

    def close(self) -> None:
        """End the helper process and threads; the engine is the caller's."""
        if self._helper is not None:
            self._helper.close()
        self._compressor.shutdown()
        self._validator.shutdown()

    # -- the pipeline -------------------------------------------------------------------------------------
    def receive(
        self,
        data: bytes,
        *,
        authenticated_gln: str,
        channel: str,
        allow_parking: bool = False,
        store: bool = True,
    ) -> ReceiveOutcome:
        # zlib releases the GIL: a large body is compressed on the other core while it is parsed and checked.
        body = (self._compressor.submit(zlib.compress, data, _ARCHIVE_LEVEL)
                if store and len(data) > _COMPRESS_AHEAD else None)
        digest = hashlib.sha256(data).hexdigest()
        draft = self._check(data, digest, authenticated_gln, channel, allow_parking, store)
        if isinstance(draft, ReceiveOutcome):
            return draft
        if not store:
            return self._outcome(draft, None, None)
        for _ in range(_RETRIES_ON_RACE):
            try:
                return self._commit(draft, body.result() if body is not None else None)
            except IntegrityError as exc:
                name = violated_constraint(exc, self._metadata)
                if name == UQ_MESSAGE and draft.message_id is not None:
                    # A concurrent delivery of the same message committed first: answer as for a resend.
                    existing = self._existing(authenticated_gln, draft.message_id, data, digest, channel)
                    if existing is not None:
                        return existing
                if name not in (UQ_TRANSACTION, UQ_SERIES_VERSION, UQ_MESSAGE):
                    raise
                log.info("lost a race on %s for message %s; checking again", name, draft.message_id)
                again = self._check(data, digest, authenticated_gln, channel, allow_parking, store)
                if isinstance(again, ReceiveOutcome):
                    return again
                draft = again
        raise RuntimeError(f"message {draft.message_id}: gave up after {_RETRIES_ON_RACE} concurrent conflicts")

    def receive_many(
        self, datas: Sequence[bytes], *, authenticated_gln: str, channel: str, allow_parking: bool = False,
    ) -> Iterator[ReceiveOutcome]:
        """Receive several messages exactly as `receive` would one after another, with group commit; yields
        each outcome, in order, once it is durable.

        Consecutive metering messages (E66) that are accepted outright against the state before them — new
        message and transaction ids, known accounting points, no event error — are stored as a run in one
        transaction: a few statements per run instead of a dozen round trips and a commit per message. Every
        other message, and the first message that would break a run, goes through the one-message path in its
        place, so outcomes, versions and order are the same as one by one. If an internal error stops the
        generator, the outcomes already yielded stand and nothing of the failing run was stored. Not for our
        SOAP endpoint's channel, whose answers each queue an ACK.
        """
        if channel == CHANNEL_SOAP:
            for data in datas:
                yield self.receive(data, authenticated_gln=authenticated_gln, channel=channel,
                                   allow_parking=allow_parking)
            return
        verdicts = self._verdicts_ahead(datas)
        try:
            yield from self._receive_runs(datas, authenticated_gln, channel, allow_parking, verdicts)
        finally:
            if verdicts is not None:
                verdicts.close()

    def _receive_runs(
        self, datas: Sequence[bytes], authenticated_gln: str, channel: str, allow_parking: bool,
        verdicts: Verdicts | None,
    ) -> Iterator[ReceiveOutcome]:
        reads: dict[int, DatahubMessage[Any] | _Refusal] = {}

        def read(i: int) -> DatahubMessage[Any] | _Refusal:
            if i in reads:
                return reads.pop(i)
            return self._read(datas[i], verdicts.issues(i) if verdicts is not None else None)

        position = 0
        # A run cut short is checked again from its cut; shrinking the next run after a cut keeps a stream full
        # of cuts (say, a folder received twice: all duplicates) from checking the same messages over and over.
        limit = _RUN
        while position < len(datas):
            taken = _Run()
            for i in range(position, min(position + limit, len(datas))):
                message = read(i)
                if not taken.add(datas[i], message, verdicts.archived(i) if verdicts is not None else None):
                    reads[i] = message
                    break
            run = taken.messages
            done = self._commit_run(run, authenticated_gln, channel, taken.archived) if run else []
            if done is None:
                # The run lost a race with a concurrent delivery and stored nothing: each message one by one,
                # each outcome handed out as soon as it is durable.
                for data, _ in run:
                    yield self.receive(data, authenticated_gln=authenticated_gln, channel=channel,
                                       allow_parking=allow_parking)
                position += len(run)
                continue
            for j, (_, message) in enumerate(run[len(done):], start=position + len(done)):
                reads[j] = message  # checked again in the next run, without parsing again
            yield from done
            position += len(done)
            if run:
                limit = min(_RUN, 2 * limit) if len(done) == len(run) else max(1, len(done))
            if not done:
                data = datas[position]
                draft = self._check(data, hashlib.sha256(data).hexdigest(), authenticated_gln, channel,
                                    allow_parking, read=read(position))
                yield draft if isinstance(draft, ReceiveOutcome) else self._commit_checked(
                    draft, authenticated_gln, channel, allow_parking)
                position += 1

    def _verdicts_ahead(self, datas: Sequence[bytes]) -> Verdicts | None:
        if self._helper is None:
            return None

        def small(data: bytes) -> bool:
            # Large documents are validated on a thread while they are mapped (see _read), and would cost a
            # copy through the pipe.
            return len(data) < _MAP_WHILE_VALIDATING

        if sum(1 for data in datas if small(data)) < VALIDATION_HELPER_FROM:
            return None
        return self._helper.ahead(datas, small)

    def _commit_checked(self, draft: _Draft, sender: str, channel: str, allow_parking: bool) -> ReceiveOutcome:
        try:
            return self._commit(draft)
        except IntegrityError:  # lost a race with a concurrent delivery: the full path sorts it out
            return self.receive(draft.data, authenticated_gln=sender, channel=channel, allow_parking=allow_parking)

    def _commit_run(
        self, run: Sequence[tuple[bytes, DatahubMessage[Any]]], sender: str, channel: str,
        archived: Sequence[bytes | None] = (),
    ) -> list[ReceiveOutcome] | None:
        """Store the longest prefix of `run` whose messages are all accepted outright; their outcomes. None when a
        concurrent delivery won a race on a unique constraint: then nothing of the run was stored."""
        now = self.clock()
        try:
            with Session(self.engine) as session, session.begin():
                accepted = self._accepted_prefix(session, run, sender)
                if not accepted:
                    return []
                digests = [hashlib.sha256(data).hexdigest() for data, _ in accepted]
                bodies = [archived[n] if n < len(archived) and archived[n] is not None
                          else zlib.compress(data, _ARCHIVE_LEVEL) for n, (data, _) in enumerate(accepted)]
                raw_ids = insert_rows_returning_ids(session, RawMessage.__table__, [  # type: ignore[attr-defined]
                    {"sha256": digest, "size": len(data), "body": body, "channel": channel,
                     "authenticated_party": sender, "received_at": now}
                    for (data, _), digest, body in zip(accepted, digests, bodies, strict=True)])
                record_ids = insert_rows_returning_ids(session, MessageRecord.__table__, [  # type: ignore[attr-defined]
                    {"sender_gln": sender, "message_id": m.header.message_id, "document_type": m.document_type,
                     "business_process": m.context.business_process, "raw_id": raw_id, "sha256": digest,
                     "channel": channel, "status": ACCEPTED, "level": None, "reason_code": "BA01",
                     "errors": None, "transactions": len(m.transactions), "received_at": now, "updated_at": now,
                     "ack_message_id": None}
                    for (_, m), raw_id, digest in zip(accepted, raw_ids, digests, strict=True)])
                insert_rows(session, TransactionRecord.__table__, [  # type: ignore[attr-defined]
                    {"sender_gln": sender, "transaction_id": t.transaction_id, "message_pk": pk,
                     "accounting_point": t.accounting_point, "status": ACCEPTED, "errors": None}
                    for (_, m), pk in zip(accepted, record_ids, strict=True) for t in m.transactions
                ])
                # Metering rows are stamped as in apply_transactions, by the wall clock.
                store_metering_batch(session, [(m.header, m.transactions, pk)
                                               for (_, m), pk in zip(accepted, record_ids, strict=True)], utcnow())
        except IntegrityError as exc:
            log.info("a run of %d messages lost a race on %s; receiving them one by one", len(run),
                     violated_constraint(exc, self._metadata))
            return None
        return [
            ReceiveOutcome(ACCEPTED, None, m.header.message_id, m.document_type, "BA01", (), None, pk,
                           len(m.transactions), sender)
            for (_, m), pk in zip(accepted, record_ids, strict=True)
        ]

    def _accepted_prefix(
        self, session: Session, run: Sequence[tuple[bytes, DatahubMessage[Any]]], sender: str
    ) -> Sequence[tuple[bytes, DatahubMessage[Any]]]:
        """The messages of `run`, up to the first that `receive` would not simply accept: the same checks, with
        one lookup each for the whole run."""
        parties, ours = _parties(session, {sender, *(m.header.juridical_sender for _, m in run)})
        authenticated = parties.get(sender)
        if authenticated is None:
            return []
        stored = set(session.execute(
            select(col(MessageRecord.message_id)).where(
                col(MessageRecord.sender_gln) == sender,
                in_values(session, col(MessageRecord.message_id), [m.header.message_id for _, m in run]))
        ).scalars())
        used = set(session.execute(
            select(col(TransactionRecord.transaction_id)).where(
                col(TransactionRecord.sender_gln) == sender,
                in_values(session, col(TransactionRecord.transaction_id),
                          [t.transaction_id for _, m in run for t in m.transactions]))
        ).scalars())
        known = known_in(self._known(session, [p for _, m in run for p in self._points(m)]))
        for n, (_, message) in enumerate(run):
            if (message.header.message_id in stored
                    or check_process(message, authenticated, parties.get(message.header.juridical_sender), ours)
                    or any(t.transaction_id in used for t in message.transactions)
                    or check_message(message, known, our_glns=ours).reason_code != "BA01"):
                return run[:n]
        return run

    def _parse(self, data: bytes) -> tuple[etree._ElementTree, SchemaEntry] | _Refusal:
        try:
            tree = parse_xml(data, max_bytes=self.max_bytes)
        except XmlInputError as exc:
            return _Refusal(SCHEMA, (Issue(exc.code, exc.text, exc.line, exc.column),))
        root = tree.getroot()
        try:
            return tree, self.schemas.entry_for_root(root)
        except UnknownSchemaError as exc:
            line = root.sourceline if isinstance(root.sourceline, int) else None
            return _Refusal(SCHEMA, (Issue("SCH.UNKNOWN_SCHEMA", str(exc), line),))

    def _read(self, data: bytes, verdict: list[SchemaIssue] | None = None) -> DatahubMessage[Any] | _Refusal:
        """Parse (hardened) → schema by root namespace → XSD → mapping: the checks that need no database.
        `verdict`: the XSD issues of `data` as the validation helper found them, if it did."""
        parsed = self._parse(data)
        if isinstance(parsed, _Refusal):
            return parsed
        tree, entry = parsed
        mapped: DatahubMessage[Any] | Exception | None = None
        if verdict is not None:
            issues = verdict
        elif len(data) >= _MAP_WHILE_VALIDATING and tree.getroot().get(_WSU_ID) is None:
            # Validation registers a wsu:Id (the schemas' only xsd:ID, allowed on message roots) in the document's
            # dictionary, which the mapping reads: a document that carries one is validated first, mapped after.
            # libxml2 validates without the GIL: map the (read-only) tree meanwhile. The mapping of a document
            # that turns out invalid is thrown away, errors included; only the XSD's verdict is reported.
            validation = self._validator.submit(self.schemas.validate_with, entry, tree)
            try:
                mapped = mapping_for(tree.getroot()).parse(tree.getroot())
            except Exception as exc:
                mapped = exc
            issues = validation.result()
        else:
            issues = self.schemas.validate_with(entry, tree)
        root = tree.getroot()
        if issues:
            mid, dtype = _hint_header(root)
            return _Refusal(SCHEMA, tuple(Issue(i.code, i.text, i.line, i.column) for i in issues), mid, dtype,
                            look_for_resend=True)
        if isinstance(mapped, UnknownDocumentError) or mapped is None:
            try:
                mapped = mapping_for(root).parse(root)
            except UnknownDocumentError:
                mid, dtype = _hint_header(root)
                return _Refusal(PROCESS, (Issue(
                    "PRC.DOCUMENT_NOT_ACCEPTED",
                    f"{etree.QName(root).localname} is not a message this gateway accepts"),), mid, dtype)
        if isinstance(mapped, Exception):
            raise mapped
        return mapped

    def _check(
        self, data: bytes, digest: str, sender: str, channel: str, allow_parking: bool, store: bool = True,
        read: DatahubMessage[Any] | _Refusal | None = None,
    ) -> _Draft | ReceiveOutcome:
        read = read if read is not None else self._read(data)
        if isinstance(read, _Refusal):
            if read.look_for_resend and read.message_id:
                existing = self._existing(sender, read.message_id, data, digest, channel, store)
                if existing is not None:
                    return existing
            return _Draft(data, digest, sender, channel, REJECTED, read.level, read.message_id, read.document_type,
                          reason_code=read.issues[0].code if read.issues else None, errors=read.issues)
        message = read
        header = message.header
        draft = _Draft(data, digest, sender, channel, ACCEPTED, None, header.message_id, header.document_type,
                       business_process=message.context.business_process, message=message)
        # One read session for every lookup of the checks: a single-series message is dominated by round trips.
        with Session(self._reader) as session:
            existing = self._existing(sender, header.message_id, data, digest, channel, store, session)
            if existing is not None:
                return existing
            parties, ours = _parties(session, {sender, header.juridical_sender})
            authenticated = parties.get(sender)
            if authenticated is None:
                return replace(draft, status=REJECTED, level=PROCESS, reason_code="PRC.UNKNOWN_PARTY",
                               errors=(Issue("PRC.UNKNOWN_PARTY", f"{sender} is not a registered party"),))
            violations = check_process(message, authenticated, parties.get(header.juridical_sender), ours)
            if violations:
                return replace(draft, status=REJECTED, level=PROCESS, reason_code=violations[0].code,
                               errors=tuple(Issue(v.code, v.text) for v in violations))
            points = self._points(message)
            known = self._known(session, points)
            check = self._event_check(session, message, sender, ours, known)
        if check.only_ordering_errors and allow_parking:
            waiting = tuple(sorted(set(points) - known))
            return replace(draft, status=PARKED, level=EVENT, check=check, waiting_for=waiting,
                           errors=self._event_issues(check), reason_code=None)
        reason = check.reason_code
        status = ACK_STATUS[reason]
        return replace(draft, status=status, level=EVENT if status != ACCEPTED else None, reason_code=reason,
                       check=check, errors=self._event_issues(check))

    @staticmethod
    def _points(message: DatahubMessage[Any]) -> list[str]:
        return [p for t in message.transactions if (p := getattr(t, "accounting_point", None))]

    @staticmethod
    def _known(session: Session, gsrns: Sequence[str]) -> set[str]:
        """Accounting points we know: from master data, from an agreement, or (heat meters are not in Datahub)
        from a district-heating product assignment. One round trip."""
        wanted = sorted(set(gsrns))
        if not wanted:
            return set()
        query = union(
            select(col(AccountingPointRow.gsrn)).where(in_values(session, col(AccountingPointRow.gsrn), wanted)),
            select(col(SalesAgreementRow.accounting_point))
            .where(in_values(session, col(SalesAgreementRow.accounting_point), wanted)),
            select(col(ProductAssignmentRow.accounting_point))
            .where(in_values(session, col(ProductAssignmentRow.accounting_point), wanted)),
        )
        return set(session.execute(query).scalars())

    def _event_check(
        self, session: Session, message: DatahubMessage[Any], sender: str, ours: frozenset[str],
        known: set[str], message_pk: int | None = None,
    ) -> CheckResult:
        # Master data introduces accounting points; everything else must refer to a known one.
        lookup = None if message.document_type in ("E58", "F01", "ACK") else known_in(known)
        check = check_message(message, lookup, our_glns=ours)
        check = self._agreements_to_end(session, message, check)
        ids = [t for t in (getattr(x, "transaction_id", None) for x in message.transactions) if t]
        if not ids:
            return check
        q = select(col(TransactionRecord.transaction_id)).where(
            col(TransactionRecord.sender_gln) == sender, in_values(session, col(TransactionRecord.transaction_id), ids))
        if message_pk is not None:  # a parked message's own transactions are not repeats
            q = q.where(col(TransactionRecord.message_pk) != message_pk)
        used = set(session.execute(q).scalars())
        if not used:
            return check
        results = tuple(
            replace(r, errors=(*r.errors, EventError(
                _DUPLICATE_TRANSACTION, f"transaction {r.transaction_id} was already received from {sender}",
                r.transaction_id)))
            if r.transaction_id in used else r
            for r in check.transactions
        )
        return CheckResult(check.message_id, check.message_errors, results)

    @staticmethod
    def _agreements_to_end(session: Session, message: DatahubMessage[Any], check: CheckResult) -> CheckResult:
        """An end notice must name an active agreement of ours; acknowledging one that changes nothing would
        leave the agreement billed."""
        if message.document_type != "F06":
            return check
        results = []
        for result, notice in zip(check.transactions, message.transactions, strict=True):
            if result.accepted and not active_agreements(session, notice.agreement_id, notice.accounting_point):
                result = replace(result, errors=(EventError(
                    EC.AGREEMENT_NOT_FOUND,
                    f"no active agreement {notice.agreement_id or ''} for accounting point "
                    f"{notice.accounting_point or '(none given)'}".replace("  ", " "), result.transaction_id),))
            results.append(result)
        return CheckResult(check.message_id, check.message_errors, tuple(results))

    @staticmethod
    def _event_issues(check: CheckResult) -> tuple[Issue, ...]:
        return tuple(Issue(e.code, e.text, transaction_id=e.transaction_id) for e in check.errors)

    # -- duplicates ---------------------------------------------------------------------------------------
    def _existing(
        self, sender: str, message_id: str | None, data: bytes, digest: str, channel: str, store: bool = True,
        reading: Session | None = None,
    ) -> ReceiveOutcome | None:
        """The answer for a message id already received from `sender` (None if new); `reading`: the caller's
        read session, to save a session's round trips."""
        if not message_id:
            return None
        with nullcontext(reading) if reading is not None else Session(self._reader) as session:
            record = session.execute(
                select(MessageRecord).where(
                    col(MessageRecord.sender_gln) == sender, col(MessageRecord.message_id) == message_id)
            ).scalar_one_or_none()
            if record is None:
                return None
            if record.sha256 == digest or self._same_document(session, record.raw_id, data):
                ack = None
                if record.ack_message_id:
                    ack = session.execute(
                        select(col(PartyQueueItem.body)).where(col(PartyQueueItem.message_id) == record.ack_message_id)
                    ).scalar_one_or_none()
                # A resend of a message refused at schema or process level gets the same refusal (a Fault) again.
                refused = record.status == REJECTED and record.level in (SCHEMA, PROCESS)
                return ReceiveOutcome(
                    REJECTED if refused else DUPLICATE, record.level if refused else None, message_id,
                    record.document_type, record.reason_code,
                    tuple(Issue(**{k: v for k, v in e.items() if k in Issue.__dataclass_fields__})
                          for e in record.errors or []),
                    ack, record.id, record.transactions, sender,
                )
        # Same id, other bytes: refused, and the first message stays exactly as it was.
        if store:
            self._archive_only(data, digest, channel, sender)
        return ReceiveOutcome(
            REJECTED, PROCESS, message_id, None, "PRC.DUPLICATE_MESSAGE_ID",
            (Issue("PRC.DUPLICATE_MESSAGE_ID",
                   f"message id {message_id} was already received from {sender} with different content; "
                   "a resend needs a new message id"),),
            sender_gln=sender,
        )

    def _same_document(self, session: Session, raw_id: int, data: bytes) -> bool:
        """Equal after canonicalisation: the same message re-serialised (e.g. unwrapped from a SOAP envelope)."""
        stored = session.get(RawMessage, raw_id)
        if stored is None:
            return False
        try:
            ours = parse_xml(data, max_bytes=self.max_bytes)
            theirs = parse_xml(zlib.decompress(stored.body), max_bytes=self.max_bytes)
        except XmlInputError:
            return False
        return _canonical(ours) == _canonical(theirs)

    def _archive_only(self, data: bytes, digest: str, channel: str, sender: str) -> None:
        with Session(self.engine) as session, session.begin():
            session.add(self._raw(data, digest, channel, sender))

    def _raw(self, data: bytes, digest: str, channel: str, sender: str, body: bytes | None = None) -> RawMessage:
        body = body if body is not None else zlib.compress(data, _ARCHIVE_LEVEL)
        return RawMessage(sha256=digest, size=len(data), body=body, channel=channel,
                          authenticated_party=sender, received_at=self.clock())

    # -- the one transaction ------------------------------------------------------------------------------
    def _commit(self, draft: _Draft, body: bytes | None = None) -> ReceiveOutcome:
        now = self.clock()
        with Session(self.engine) as session, session.begin():
            raw = self._raw(draft.data, draft.digest, draft.channel, draft.sender, body)
            session.add(raw)
            session.flush()
            assert raw.id is not None
            record = MessageRecord(
                sender_gln=draft.sender, message_id=draft.message_id, document_type=draft.document_type,
                business_process=draft.business_process, raw_id=raw.id, sha256=draft.digest,
                channel=draft.channel, status=draft.status, level=draft.level, reason_code=draft.reason_code,
                errors=[i.to_dict() for i in draft.errors] or None,
                transactions=len(draft.message.transactions) if draft.message else 0,
                received_at=now, updated_at=now,
            )
            session.add(record)
            session.flush()
            assert record.id is not None
            record_id = record.id
            ack: bytes | None = None
            if draft.message is not None and draft.check is not None:
                self._register_transactions(session, draft, record.id)
                if draft.status == PARKED:
                    self._park(session, draft, record.id, raw.id, now)
                else:
                    accepted = [t.index for t in draft.check.accepted] if draft.reason_code != "BA02" else []
                    introduced = apply_transactions(session, draft.message, accepted, record.id)
                    release_parked_for(session, introduced)
                    if draft.channel == CHANNEL_SOAP:
                        ack = self._queue_ack(session, draft.message.header, draft.check, record, now)
        return self._outcome(draft, record_id, ack)

    def _park(self, session: Session, draft: _Draft, message_pk: int, raw_id: int, now: datetime) -> None:
        parked = ParkedMessage(message_pk=message_pk, raw_id=raw_id, sender_gln=draft.sender,
                               waiting_for=list(draft.waiting_for), parked_at=now,
                               reason="; ".join(i.text for i in draft.errors)[:1000])
        session.add(parked)
        session.flush()
        # The master data may have committed between our check and this transaction, releasing nothing because
        # this row did not exist yet: look again now, and once more a minute from now, when any such commit has
        # long finished. A release that finds the message still waiting just leaves it parked.
        payload = {"parked_id": parked.id, "because": "recheck"}
        if self._known(session, draft.waiting_for):
            enqueue(session, TOPIC_RELEASE_PARKED, payload, key=str(message_pk))
        enqueue(session, TOPIC_RELEASE_PARKED, payload, key=str(message_pk), not_before=now + PARKED_RECHECK)

    def _register_transactions(self, session: Session, draft: _Draft, message_pk: int) -> None:
        assert draft.message is not None and draft.check is not None
        rows = [
            {
                "sender_gln": draft.sender, "transaction_id": result.transaction_id, "message_pk": message_pk,
                "accounting_point": getattr(txn, "accounting_point", None),
                "status": _transaction_status(draft, result),
                "errors": [{"code": e.code, "text": e.text} for e in result.errors] or None,
            }
            for result, txn in zip(draft.check.transactions, draft.message.transactions, strict=True)
            if result.transaction_id and not any(e.code == _DUPLICATE_TRANSACTION for e in result.errors)
        ]
        insert_rows(session, TransactionRecord.__table__, rows)  # type: ignore[attr-defined]

    def _queue_ack(
        self, session: Session, header: MessageHeader, check: CheckResult, record: MessageRecord, now: datetime
    ) -> bytes:
        ack_id = str(uuid.uuid4())
        body = build_ack_for(header, header.juridical_recipient, check.reason_code, check.event_reasons(),
                             check.series_details(), ack_id)
        session.add(PartyQueueItem(recipient_gln=header.physical_sender, reference=str(uuid.uuid4()),
                                   document_type="ACK", message_id=ack_id, body=body, created_at=now))
        record.ack_message_id = ack_id
        return body

    def _outcome(self, draft: _Draft, message_pk: int | None, ack: bytes | None) -> ReceiveOutcome:
        return ReceiveOutcome(
            draft.status, draft.level, draft.message_id, draft.document_type, draft.reason_code, draft.errors,
            ack, message_pk, len(draft.message.transactions) if draft.message else 0, draft.sender,
        )

    # -- parked messages ----------------------------------------------------------------------------------
    def retry_parked(self, session: Session, parked_id: int) -> str:
        """Run a parked message's event checks again inside the caller's transaction (an outbox handler)."""
        # Take the row first with a conditional update: two release events for one parked message (two points
        # it waited for, two master-data versions) then serialise on it, and only one of them applies it.
        taken = session.execute(
            update(ParkedMessage)
            .where(col(ParkedMessage.id) == parked_id, col(ParkedMessage.released_at).is_(None))
            .values(attempts=col(ParkedMessage.attempts) + 1)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return "gone"
        parked = session.get(ParkedMessage, parked_id, populate_existing=True)
        assert parked is not None
        record = session.get(MessageRecord, parked.message_pk)
        raw = session.get(RawMessage, parked.raw_id)
        assert record is not None and raw is not None
        tree = parse_xml(zlib.decompress(raw.body), max_bytes=self.max_bytes)
        message = mapping_for(tree.getroot()).parse(tree.getroot())
        known = self._known(session, self._points(message))
        check = self._event_check(session, message, parked.sender_gln, _own_glns(session), known, record.id)
        now = self.clock()
        if check.only_ordering_errors:
            return PARKED
        reason = check.reason_code
        record.status = ACK_STATUS[reason]
        record.level = EVENT if record.status != ACCEPTED else None
        record.reason_code = reason
        record.errors = [i.to_dict() for i in self._event_issues(check)] or None
        record.updated_at = now
        parked.released_at = now
        accepted = [t.index for t in check.accepted] if reason != "BA02" else []
        for result in check.transactions:
            if result.transaction_id:
                session.execute(
                    update(TransactionRecord)
                    .where(col(TransactionRecord.message_pk) == record.id)
                    .where(col(TransactionRecord.transaction_id) == result.transaction_id)
                    .values(status="accepted" if result.accepted else "rejected",
                            errors=[{"code": e.code, "text": e.text} for e in result.errors] or None)
                )
        assert record.id is not None
        introduced = apply_transactions(session, message, accepted, record.id)
        release_parked_for(session, introduced)
        return record.status


def _parties(session: Session, glns: set[str]) -> tuple[dict[str, PartyInfo], frozenset[str]]:
    """The named parties, and every GLN of our own, in one query."""
    rows = session.execute(
        select(Party).where(or_(col(Party.gln).in_(sorted(glns)), col(Party.own).is_(True)))).scalars().all()
    return ({p.gln: party_info(p) for p in rows if p.gln in glns},
            frozenset(p.gln for p in rows if p.own))


def _own_glns(session: Session) -> frozenset[str]:
    return frozenset(session.execute(select(col(Party.gln)).where(col(Party.own).is_(True))).scalars())


def _transaction_status(draft: _Draft, result: TransactionResult) -> str:
    if draft.status == PARKED:
        return PARKED
    if draft.reason_code == "BA02" or not result.accepted:
        return REJECTED
    return ACCEPTED
