"""Claiming due deliveries under a lease and running their consumers' handlers.

Claim: one conditional `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) AND <still claimable>
RETURNING`. PostgreSQL honours the row locks so concurrent workers skip each other's rows; SQLite ignores
`FOR UPDATE`, but it runs the statement inside a write transaction, and the repeated "still claimable"
condition makes the update a compare-and-set either way. A lease that runs out makes the row claimable again,
which is how a killed worker's delivery is recovered.

Order per key: a delivery is claimable only while no earlier message (lower message row id) with the same key
is unfinished (pending, processing or dead) for the same consumer. So each consumer handles one key's messages
in enqueue order, one at a time, and a dead letter holds back its key, for that consumer only, until it is
replayed or discarded. Message row ids follow commit order for causally related writes (a message enqueued
after another one's commit gets a higher id), which is the order that matters: an agreement's end cannot be
enqueued before its start has committed. Messages without a key have no order.

Time: leases, due times and lease ends are compared with the clock the worker is given, by default the
database's (`outbox.clock`), never with the host's own, so workers on hosts with skewed clocks agree.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, literal_column, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from outbox.clock import DATABASE_CLOCK, Clock
from outbox.core import DEAD, DONE, PENDING, PROCESSING, OutboxMessage, OutboxSettings
from outbox.external import ExternalCall, PermanentFailure
from outbox.inbox import already_processed, record_processed
from outbox.registry import HandlerRegistry
from outbox.schema import outbox_delivery, outbox_message
from outbox.subscriptions import missing

log = logging.getLogger("outbox.worker")

# Lock contention and dropped connections are transient: retry the bookkeeping statement, not the handler.
_transient_db = retry(
    retry=retry_if_exception_type(OperationalError),
    wait=wait_random_exponential(multiplier=0.05, max=2),
    stop=stop_after_attempt(8),
    reraise=True,
)


class LeaseLost(RuntimeError):
    """The delivery was reclaimed by another worker while this one was handling it."""


class NotSubscribedError(RuntimeError):
    """The worker serves a consumer the database does not subscribe: it would wait for nothing."""


@dataclass(frozen=True)
class Outcome:
    message: OutboxMessage
    result: str  # "done" | "duplicate" | "retry" | "dead" | "lease_lost" | "error"
    error: str | None = None


ClaimObserver = Callable[[str, datetime, Sequence[OutboxMessage]], None]

_d = outbox_delivery.c


def _states(*states: str) -> ColumnElement[bool]:
    # Literal values, so SQLite's planner can match the partial indexes' conditions.
    return _d.state.in_([literal_column(f"'{state}'") for state in states])


def _claimable(now: Any) -> ColumnElement[bool]:
    # A claimed row's next_attempt_at is its lease end, so one condition covers both due rows and rows whose
    # worker died, and one small partial index (state in pending/processing) serves the claim.
    return and_(_states(PENDING, PROCESSING), _d.next_attempt_at <= now)


def _first_of_its_key() -> ColumnElement[bool]:
    """No earlier message of the same key is unfinished for the same consumer.

    Written as "the lowest unfinished message of the key is this one", a scalar subquery the databases answer
    from the key-order index (a MIN over an index prefix), rather than as NOT EXISTS, which PostgreSQL may turn
    into an anti-join that compares every pair of deliveries while its statistics are young."""
    earlier = outbox_delivery.alias("earlier")
    e = earlier.c
    first = (
        select(func.min(e.message_pk))
        .where(e.consumer == _d.consumer, e.key == _d.key,
               e.state.in_([literal_column(f"'{s}'") for s in (PENDING, PROCESSING, DEAD)]))
        .correlate(outbox_delivery)
        .scalar_subquery()
    )
    return or_(_d.key.is_(None), _d.message_pk == first)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        engine: Engine,
        registry: HandlerRegistry,
        settings: OutboxSettings | None = None,
        *,
        worker_id: str | None = None,
        topics: Sequence[str] | None = None,
        consumers: Sequence[str] | None = None,
        claim_observer: ClaimObserver | None = None,
        clock: Clock | None = None,
    ) -> None:
        """Serve the registry's consumers (only those of `topics`, or only `consumers`, when given).

        Raises ValueError when an external call served here can outlast the lease, or when the heartbeat
        would not beat at least once within a lease."""
        self.engine = engine
        self.registry = registry
        self.settings = settings or OutboxSettings()
        self.worker_id = worker_id or default_worker_id()
        self.registrations = tuple(
            r for r in registry.registrations
            if (not topics or r.topic in topics) and (not consumers or r.consumer in consumers)
        )
        self.consumers = tuple(r.consumer for r in self.registrations)
        self.topics = tuple(sorted({r.topic for r in self.registrations}))
        self.claim_observer = claim_observer
        self.clock = clock or DATABASE_CLOCK
        self._stop = threading.Event()
        self._rng = random.Random()
        self._check_timing()
        server_now = self.clock.in_sql(engine.dialect)
        self._now_bound = server_now is None
        # Built once: constructing statements per message costs more than executing them on SQLite.
        self._mark_done_stmt = (
            update(outbox_delivery)
            .where(_d.id == bindparam("row_id"), _d.lease_owner == bindparam("owner"), _d.state == PROCESSING)
            .values(state=DONE, processed_at=bindparam("now") if server_now is None else server_now,
                    lease_owner=None, lease_until=None)
        )

    def _check_timing(self) -> None:
        lease = self.settings.lease
        if self.settings.heartbeat_interval >= lease:
            raise ValueError(f"the heartbeat ({self.settings.heartbeat_interval}) must beat within the lease ({lease})")
        for r in self.registrations:
            if r.external is not None and r.external.max_duration >= lease:
                raise ValueError(
                    f"refusing to serve {r.consumer}: one call can take up to {r.external.max_duration} (timeout "
                    f"× attempts, waits included) and so outlast the {lease} lease, after which another worker "
                    "would make the call again while this one still runs. Lengthen the lease or shorten the "
                    "call's timeout or attempts."
                )

    def check_subscriptions(self) -> None:
        """Raise NotSubscribedError when a consumer served here has no subscription in the database."""
        with self.engine.connect() as conn:
            absent = missing(conn, [(r.topic, r.consumer) for r in self.registrations])
        if absent:
            listed = ", ".join(f"{consumer} ({topic})" for topic, consumer in absent)
            raise NotSubscribedError(
                f"not subscribed in the database: {listed}. Write the declared subscriptions first "
                "(the application's migrate command does)."
            )

    # -- claiming -----------------------------------------------------------------------------------------
    @_transient_db
    def claim(self, limit: int | None = None) -> list[OutboxMessage]:
        due = (
            select(_d.id)
            .where(_d.consumer.in_(self.consumers), _claimable(bindparam("now")), _first_of_its_key())
            .order_by(_d.next_attempt_at, _d.id)
            .limit(limit or self.settings.batch_size)
            .with_for_update(skip_locked=True)
            .correlate(None)
        )
        with Session(self.engine) as session, session.begin():
            now = self.clock.now(session.connection())
            until = now + self.settings.lease
            self._bury_crashers(session, now)
            claimed = session.execute(
                update(outbox_delivery)
                .where(_d.id.in_(due.scalar_subquery()), _claimable(bindparam("now")))
                .values(state=PROCESSING, lease_owner=self.worker_id, lease_until=until, next_attempt_at=until,
                        attempts=_d.attempts + 1)
                .returning(_d.id, _d.message_pk, _d.consumer, _d.key, _d.attempts, _d.max_attempts, _d.calls,
                           _d.last_error),
                {"now": now},
            ).all()
            if not claimed:
                return []
            m = outbox_message.c
            messages = {row.id: row for row in session.execute(
                select(m.id, m.message_id, m.topic, m.payload, m.created_at)
                .where(m.id.in_({row.message_pk for row in claimed}))
            )}
        result = []
        for row in sorted(claimed, key=lambda r: (r.message_pk, r.id)):
            message = messages[row.message_pk]
            result.append(OutboxMessage(
                id=row.id, message_id=message.message_id, topic=message.topic, key=row.key,
                payload=message.payload, attempts=row.attempts, max_attempts=row.max_attempts,
                created_at=message.created_at, lease_owner=self.worker_id, lease_until=until,
                last_error=row.last_error, consumer=row.consumer, calls=row.calls,
            ))
        if self.claim_observer:
            self.claim_observer(self.worker_id, now, result)
        return result

    def _bury_crashers(self, session: Session, now: datetime) -> None:
        """A delivery whose lease ran out after its last allowed attempt killed or hung its worker each time: it
        goes to dead letter instead of taking down one more worker."""
        session.execute(
            update(outbox_delivery)
            .where(_d.consumer.in_(self.consumers), _d.state == PROCESSING, _d.next_attempt_at <= now,
                   _d.attempts >= _d.max_attempts)
            .values(state=DEAD, lease_owner=None, lease_until=None,
                    last_error="the lease expired on every attempt: the handler kills or hangs its worker")
        )

    # -- handling -----------------------------------------------------------------------------------------
    def handle(self, message: OutboxMessage) -> Outcome:
        registration = self.registry.consumer(message.consumer)
        if registration.external is not None:
            return self._handle_external(message, registration.external)
        assert registration.handler is not None
        try:
            with Session(self.engine) as session, session.begin():
                # The inbox row goes first: a concurrent delivery of the same message then waits on (or fails
                # at) the primary key before running the handler, and the common path costs no extra SELECT.
                record_processed(session, message.consumer, message.message_id)
                registration.handler(session, message)
                self._mark_done(session, message)
            return Outcome(message, DONE)
        except LeaseLost:
            log.warning("lease lost on delivery %s; another worker owns it now", message.id)
            return Outcome(message, "lease_lost")
        except IntegrityError as exc:
            return self._integrity_error(message, exc)
        except Exception as exc:
            return self._fail(message, exc)

    def _handle_external(self, message: OutboxMessage, spec: ExternalCall[Any, Any]) -> Outcome:
        current = dataclasses.replace(message, calls=message.calls + 1)
        try:  # transaction 1: still ours? count the call, let the application read and mark what it sends
            with Session(self.engine) as session, session.begin():
                self._renew(session, message, count_call=True)
                if already_processed(session, message.consumer, message.message_id):
                    self._mark_done(session, message)
                    return Outcome(current, "duplicate")
                request = spec.prepare(session, current)
                if request is None:  # nothing to call: done as it stands
                    record_processed(session, message.consumer, message.message_id)
                    self._mark_done(session, message)
                    return Outcome(current, DONE)
        except LeaseLost:
            return Outcome(message, "lease_lost")
        except Exception as exc:
            return self._fail(message, exc)

        failure: Exception | None = None
        with _Heartbeat(self, message, spec.max_duration) as heartbeat:  # no transaction open, the lease kept
            try:
                result = spec.call(request, current)
            except Exception as exc:
                failure = exc
        if heartbeat.lost:
            log.warning("delivery %s: the lease was lost during the call; its result is not recorded", message.id)
            return Outcome(current, "lease_lost", None if failure is None else str(failure))
        if failure is not None:
            return self._fail(current, failure)

        try:  # transaction 2: only while the lease is still ours
            with Session(self.engine) as session, session.begin():
                self._mark_done(session, message)
                record_processed(session, message.consumer, message.message_id)
                spec.record(session, current, result)
            return Outcome(current, DONE)
        except LeaseLost:
            log.warning("delivery %s: the lease was lost during the call; its result is not recorded", message.id)
            return Outcome(current, "lease_lost")
        except IntegrityError as exc:
            return self._integrity_error(current, exc)
        except Exception as exc:
            return self._fail(current, exc)

    def _integrity_error(self, message: OutboxMessage, exc: IntegrityError) -> Outcome:
        # Another delivery of the same message recorded it first: its effect stands, ours rolled back.
        if not self._inbox_has(message.consumer, message.message_id):
            return self._fail(message, exc)
        return self._finish_duplicate(message)

    def _now(self, session: Session) -> datetime:
        return self.clock.now(session.connection())

    def _mark_done(self, session: Session, message: OutboxMessage) -> None:
        params: dict[str, Any] = {"row_id": message.id, "owner": self.worker_id}
        if self._now_bound:
            params["now"] = self._now(session)
        result = session.execute(self._mark_done_stmt, params)
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(message.id)

    def _renew(self, session: Session, message: OutboxMessage, *, count_call: bool = False) -> None:
        until = self._now(session) + self.settings.lease
        values: dict[str, Any] = {"lease_until": until, "next_attempt_at": until}
        if count_call:
            values["calls"] = _d.calls + 1
        renewed = session.execute(
            update(outbox_delivery)
            .where(_d.id == message.id, _d.lease_owner == self.worker_id, _d.state == PROCESSING)
            .values(**values)
        )
        if renewed.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(message.id)

    @_transient_db
    def renew(self, message: OutboxMessage) -> bool:
        """Extend the lease on `message` from now; False when it is no longer this worker's."""
        try:
            with Session(self.engine) as session, session.begin():
                self._renew(session, message)
        except LeaseLost:
            return False
        return True

    @_transient_db
    def _inbox_has(self, consumer: str, message_id: str) -> bool:
        with Session(self.engine) as session:
            return already_processed(session, consumer, message_id)

    @_transient_db
    def _finish_duplicate(self, message: OutboxMessage) -> Outcome:
        try:
            with Session(self.engine) as session, session.begin():
                self._mark_done(session, message)
        except LeaseLost:
            return Outcome(message, "lease_lost")  # whoever owns it now finishes it the same way
        return Outcome(message, "duplicate")

    @_transient_db
    def _fail(self, message: OutboxMessage, exc: BaseException) -> Outcome:
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:4000]
        dead = message.attempts >= message.max_attempts or isinstance(exc, PermanentFailure)
        with Session(self.engine) as session, session.begin():
            now = self._now(session)
            result = session.execute(
                update(outbox_delivery)
                .where(_d.id == message.id, _d.lease_owner == self.worker_id, _d.state == PROCESSING)
                .values(state=DEAD if dead else PENDING, last_error=error, lease_owner=None, lease_until=None,
                        next_attempt_at=now if dead else now + self.settings.backoff(message.attempts, self._rng))
            )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return Outcome(message, "lease_lost", error)
        if dead:
            log.error("delivery %s (%s → %s) dead-lettered after %d attempts: %s", message.id, message.topic,
                      message.consumer, message.attempts, error)
        else:
            log.warning("delivery %s (%s → %s) attempt %d failed: %s", message.id, message.topic,
                        message.consumer, message.attempts, error)
        return Outcome(message, DEAD if dead else "retry", error)

    # -- loops --------------------------------------------------------------------------------------------
    def run_once(self, limit: int | None = None) -> list[Outcome]:
        outcomes = []
        for message in self.claim(limit):
            if not self._lease_holds(message):
                outcomes.append(Outcome(message, "lease_lost"))
                continue
            try:
                outcomes.append(self.handle(message))
            except Exception as exc:
                log.exception("delivery %s: could not record its outcome", message.id)
                outcomes.append(Outcome(message, "error", str(exc)))
        return outcomes

    def _lease_holds(self, message: OutboxMessage) -> bool:
        """A batch shares one lease; before a delivery whose lease is half spent, renew it (or learn it is
        gone). The estimate only decides when to ask; the renewal itself is a conditional statement."""
        assert message.lease_until is not None
        if message.lease_until - self.clock.estimate() > self.settings.lease / 2:
            return True
        return self.renew(message)

    def drain(self, max_rounds: int = 1_000_000) -> list[Outcome]:
        """Handle everything due now (used by the demo and tests); retries scheduled later are left."""
        outcomes: list[Outcome] = []
        for _ in range(max_rounds):
            batch = self.run_once()
            if not batch:
                break
            outcomes.extend(batch)
        return outcomes

    def stop(self) -> None:
        self._stop.set()

    def run_forever(self) -> None:
        self.check_subscriptions()
        idle = self.settings.idle_sleep.total_seconds()
        log.info("worker %s serving %s", self.worker_id,
                 ", ".join(f"{r.consumer} ({r.topic})" for r in self.registrations))
        while not self._stop.is_set():
            try:
                outcomes = self.run_once()
            except OperationalError as exc:
                log.warning("database unavailable, backing off: %s", exc)
                outcomes = []
            if outcomes:
                idle = self.settings.idle_sleep.total_seconds()
                continue
            self._stop.wait(idle * self._rng.uniform(0.8, 1.2))
            idle = min(idle * 2, self.settings.idle_sleep_max.total_seconds())


class _Heartbeat:
    """Renews one delivery's lease every heartbeat interval on its own thread while an external call runs, for
    no longer than the call may take: a call that hangs past its max_duration lets the lease run out, so another
    worker takes the delivery over (and this one records nothing if the call ever returns)."""

    def __init__(self, worker: Worker, message: OutboxMessage, max_duration: timedelta) -> None:
        self._worker = worker
        self._message = message
        self._max_duration = max_duration
        self._done = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"outbox-heartbeat-{message.id}", daemon=True)

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        interval = self._worker.settings.heartbeat_interval.total_seconds()
        deadline = time.monotonic() + self._max_duration.total_seconds()
        while not self._done.wait(interval):
            if time.monotonic() > deadline:
                log.error("delivery %s: the call has run longer than its max_duration (%s); its lease is no longer "
                          "renewed", self._message.id, self._max_duration)
                return
            try:
                if not self._worker.renew(self._message):
                    self._lost.set()
                    return
            except Exception:  # the database is unreachable: the lease may run out; transaction 2 will tell
                log.warning("delivery %s: heartbeat failed", self._message.id, exc_info=True)
