"""The receive pipeline's entry: `Receiver.receive` for one message, `receive_many` for a stream with group commit,
`retry_parked` for a parked message whose missing data has arrived. All three read, check and commit through the
same functions (`reading`, `checks`, `commit`)."""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from lxml import etree
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.receive import checks
from gateway.receive.commit import compress, settle_parked, write
from gateway.receive.group import Run
from gateway.receive.helper import AheadValidation
from gateway.receive.outcomes import ACCEPTED, CHANNEL_CLI, CHANNEL_SOAP, PARKED, Draft, ReceiveOutcome
from gateway.receive.parking import take
from gateway.receive.reading import Arrival, Reader, Refusal
from gateway.soap import envelope
from gateway.store.constraints import violated_constraint
from gateway.store.metadata import all_metadata
from gateway.store.tables import UQ_MESSAGE, UQ_SERIES_VERSION, UQ_TRANSACTION, MessageRecord, RawMessage
from gateway.xml.hardened import XmlInputError, parse_xml
from gateway.xml.schemas import SchemaRegistry, default_registry
from gateway.xml.validate_ahead import Verdicts
from outbox.types import utcnow

log = logging.getLogger("gateway.receive")

_COMPRESS_AHEAD = 256 * 1024
_RETRIES_ON_RACE = 3


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
        self._reading_engine = engine.execution_options(sqlite_begin="DEFERRED")
        self._compressor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-archive")
        self.max_bytes = max_bytes
        self.schemas = schemas or default_registry()
        self.clock = clock
        self.reader = Reader(self.schemas, max_bytes)
        self._metadata = all_metadata()
        self._ahead = AheadValidation(max_bytes, validation_helper and self.schemas is default_registry())

    def warm_up(self, wait: bool = False) -> None:
        """Start what `receive_many` uses for a long stream (the validation helper) now, in the background, or
        with `wait` until it is ready (to measure or test it warm). Until it is, the stream validates itself."""
        self._ahead.warm_up(wait)

    def close(self) -> None:
        """End the helper process and threads; the engine is the caller's."""
        self._ahead.close()
        self._compressor.shutdown()
        self.reader.close()

    # -- one message --------------------------------------------------------------------------------------
    def receive(
        self,
        data: bytes,
        *,
        authenticated_gln: str,
        channel: str,
        allow_parking: bool = False,
        store: bool = True,
        also: Callable[[Session], None] | None = None,
        parsed: etree._ElementTree | None = None,
    ) -> ReceiveOutcome:
        """The outcome for `data`, once it is durable. `also`: more work for the transaction that makes it durable
        (one is opened for it when the message needs no writing, e.g. a duplicate); `parsed`: the tree of `data`
        if the caller has parsed it (our SOAP endpoint, to route the request)."""
        # zlib releases the GIL: a large body is compressed on the other core while it is parsed and checked.
        body = self._compressor.submit(compress, data) if store and len(data) > _COMPRESS_AHEAD else None
        arrival = self.reader.arrive(data, envelopes=_envelopes(channel), parsed=parsed)
        for _ in range(_RETRIES_ON_RACE):
            (verdict,) = self._check([arrival], authenticated_gln, channel, allow_parking)
            if not store:
                return verdict if isinstance(verdict, ReceiveOutcome) else verdict.outcome(None)
            if isinstance(verdict, ReceiveOutcome):
                self._commit([], also)
                return verdict
            if body is not None:
                verdict.archived = body.result()
            try:
                return self._commit([verdict], also)[0]
            except IntegrityError as exc:
                name = violated_constraint(exc, self._metadata)
                if name not in (UQ_TRANSACTION, UQ_SERIES_VERSION, UQ_MESSAGE):
                    raise
                # A concurrent delivery committed first: checked again, this message is its resend (or repeats
                # its transactions).
                log.info("lost a race on %s for message %s; checking again", name, verdict.message_id)
        raise RuntimeError(f"message {arrival.message_id}: gave up after {_RETRIES_ON_RACE} concurrent conflicts")

    # -- a stream -----------------------------------------------------------------------------------------
    def receive_many(
        self, datas: Sequence[bytes], *, authenticated_gln: str, channel: str, allow_parking: bool = False,
        also: Callable[[Session, Sequence[int]], None] | None = None,
    ) -> Iterator[ReceiveOutcome]:
        """Receive several messages exactly as `receive` would one after another, with group commit; yields
        each outcome, in order, once it is durable.

        Consecutive messages that do not depend on each other (see `gateway.receive.group`) are checked with one
        lookup per kind and stored in one transaction: a few statements per run instead of a dozen round trips
        and a commit per message. A run that loses a race with a concurrent delivery (a unique constraint at
        insert time) is rolled back whole and its messages are received one by one. If an internal error stops
        the generator, the outcomes already yielded stand and nothing of the failing run was stored. Not for our
        SOAP endpoint's channel, whose answers each queue an ACK. `also`: more work for each transaction that
        makes outcomes durable, given the indexes (into `datas`) of the messages it settles.
        """
        if channel == CHANNEL_SOAP:
            for i, data in enumerate(datas):
                yield self.receive(data, authenticated_gln=authenticated_gln, channel=channel,
                                   allow_parking=allow_parking, also=_only(also, i))
            return
        verdicts = self._ahead.verdicts(datas)
        try:
            yield from self._receive_runs(datas, authenticated_gln, channel, allow_parking, verdicts, also)
        finally:
            if verdicts is not None:
                verdicts.close()

    def _receive_runs(
        self, datas: Sequence[bytes], sender: str, channel: str, allow_parking: bool, verdicts: Verdicts | None,
        also: Callable[[Session, Sequence[int]], None] | None,
    ) -> Iterator[ReceiveOutcome]:
        def arrive(i: int) -> Arrival:
            return self.reader.arrive(datas[i], envelopes=_envelopes(channel),
                                      verdict=verdicts.issues(i) if verdicts is not None else None,
                                      archived=verdicts.archived(i) if verdicts is not None else None)

        position = 0
        waiting: Arrival | None = None  # read, but not taken by the run before
        while position < len(datas):
            run = Run()
            while position + len(run) < len(datas):
                arrival = waiting if waiting is not None else arrive(position + len(run))
                waiting = None
                if not run.add(arrival):
                    waiting = arrival
                    break
            settled = range(position, position + len(run))
            outcomes = self._commit_run(run, sender, channel, allow_parking, _these(also, settled))
            if outcomes is None:
                # The run lost a race with a concurrent delivery and stored nothing: each message one by one,
                # each outcome handed out as soon as it is durable.
                for i, arrival in zip(settled, run.arrivals, strict=True):
                    yield self.receive(arrival.data, authenticated_gln=sender, channel=channel,
                                       allow_parking=allow_parking, also=_only(also, i))
            else:
                yield from outcomes
            position += len(run)

    def _commit_run(self, run: Run, sender: str, channel: str, allow_parking: bool,
                    also: Callable[[Session], None] | None) -> list[ReceiveOutcome] | None:
        """The run's outcomes, in order, once stored; None when a concurrent delivery won a race on a unique
        constraint: then nothing of the run was stored."""
        verdicts = self._check(run.arrivals, sender, channel, allow_parking)
        drafts = [v for v in verdicts if isinstance(v, Draft)]
        try:
            written = iter(self._commit(drafts, also))
        except IntegrityError as exc:
            log.info("a run of %d messages lost a race on %s; receiving them one by one", len(run),
                     violated_constraint(exc, self._metadata))
            return None
        return [v if isinstance(v, ReceiveOutcome) else next(written) for v in verdicts]

    # -- the steps ----------------------------------------------------------------------------------------
    def _check(self, arrivals: Sequence[Arrival], sender: str, channel: str, allow_parking: bool
               ) -> list[Draft | ReceiveOutcome]:
        # One read session for every lookup: a single-series message is dominated by round trips.
        with Session(self._reading_engine) as session:
            return checks.check(session, arrivals, sender, channel, allow_parking=allow_parking,
                                same_document=self._same_document)

    def _commit(self, drafts: Sequence[Draft], also: Callable[[Session], None] | None = None
                ) -> list[ReceiveOutcome]:
        if not drafts and also is None:
            return []
        with Session(self.engine) as session, session.begin():
            written = write(session, drafts, self.clock())
            if also is not None:
                also(session)
            return written

    def _same_document(self, stored: bytes, stored_offset: int | None, data: bytes) -> bool:
        """Equal after canonicalisation: the same message re-serialised (e.g. sent bare once, in a SOAP envelope
        another time)."""
        theirs = self.reader.document_bytes(stored, stored_offset)
        ours = self.reader.document_bytes(data, 0 if envelope.is_envelope_bytes(data) else None)
        if theirs is None or ours is None:
            return False
        try:
            return _canonical(parse_xml(ours, max_bytes=self.max_bytes)) == _canonical(
                parse_xml(theirs, max_bytes=self.max_bytes))
        except XmlInputError:
            return False

    # -- parked messages ----------------------------------------------------------------------------------
    def retry_parked(self, session: Session, parked_id: int) -> str:
        """Decide a parked message again, by the same checks, inside the caller's transaction (an outbox
        handler); its new status, PARKED while it still waits, or "gone" when it was released already."""
        parked = take(session, parked_id)
        if parked is None:
            return "gone"
        record = session.get(MessageRecord, parked.message_pk)
        raw = session.get(RawMessage, parked.raw_id)
        assert record is not None and record.id is not None and raw is not None and raw.id is not None
        data = zlib.decompress(raw.body)
        message = self.reader.arrive(data, envelopes=raw.payload_offset is not None).read
        if isinstance(message, Refusal):  # it was read when it was parked: the schemas must have changed
            raise ValueError(f"parked message {parked_id} no longer reads: {message.issues[:1]}")
        sender = parked.sender_gln
        known = checks.known_points(session, checks.points_of(message))
        used = checks.used_transaction_ids(session, sender, checks.transaction_ids(message),
                                           except_message_pk=record.id)
        result = checks.event_check(session, message, sender, checks.own_glns(session), known, used)
        draft = checks.decide(Draft(data, record.sha256, sender, record.channel, ACCEPTED, None, record.message_id,
                                    message.document_type, message=message), result, known, allow_parking=True)
        if draft.status == PARKED:
            return PARKED
        now = self.clock()
        parked.released_at = now
        settle_parked(session, record, draft, raw.id, now)
        return record.status


def _envelopes(channel: str) -> bool:
    """Whether bytes from this channel may be a SOAP envelope around the business document: pushed to our endpoint
    or handed to `gateway ingest`; Datahub's pulled payloads are bare documents."""
    return channel in (CHANNEL_SOAP, CHANNEL_CLI)


def _these(also: Callable[[Session, Sequence[int]], None] | None, indexes: Sequence[int]
           ) -> Callable[[Session], None] | None:
    return None if also is None else lambda session: also(session, indexes)


def _only(also: Callable[[Session, Sequence[int]], None] | None, index: int) -> Callable[[Session], None] | None:
    return _these(also, (index,))


def _canonical(tree: etree._ElementTree) -> bytes:
    # lxml-stubs predate the c14n2 options.
    c14n = etree.tostring(tree, method="c14n2", with_comments=False, strip_text=True)  # type: ignore[call-overload]
    return hashlib.sha256(c14n).digest()
