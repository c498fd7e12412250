"""Claiming due messages under a lease and running their handlers.

Claim: one conditional `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) AND <still claimable>
RETURNING`. PostgreSQL honours the row locks so concurrent workers skip each other's rows; SQLite ignores
`FOR UPDATE`, but it runs the statement inside a write transaction, and the repeated "still claimable"
condition makes the update a compare-and-set either way. A lease that runs out makes the row claimable again,
which is how a killed worker's message is recovered.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from outbox.core import DEAD, DONE, PENDING, PROCESSING, OutboxMessage, OutboxSettings
from outbox.inbox import already_processed, record_processed
from outbox.registry import HandlerRegistry
from outbox.schema import outbox_message
from outbox.types import utcnow

log = logging.getLogger("outbox.worker")

# Lock contention and dropped connections are transient: retry the bookkeeping statement, not the handler.
_transient_db = retry(
    retry=retry_if_exception_type(OperationalError),
    wait=wait_random_exponential(multiplier=0.05, max=2),
    stop=stop_after_attempt(8),
    reraise=True,
)


class LeaseLost(RuntimeError):
    """The row was reclaimed by another worker while this one was handling it."""


@dataclass(frozen=True)
class Outcome:
    message: OutboxMessage
    result: str  # "done" | "duplicate" | "retry" | "dead" | "lease_lost"
    error: str | None = None


ClaimObserver = Callable[[str, datetime, Sequence[OutboxMessage]], None]


def _claimable(now: datetime) -> object:
    # A claimed row's next_attempt_at is its lease end, so one condition covers both due rows and rows whose
    # worker died, and one small partial index (state in pending/processing) serves the claim.
    c = outbox_message.c
    return and_(c.state.in_([PENDING, PROCESSING]), c.next_attempt_at <= now)


# Built once: constructing statements per message costs more than executing them on SQLite.
_MARK_DONE = (
    update(outbox_message)
    .where(
        outbox_message.c.id == bindparam("row_id"),
        outbox_message.c.lease_owner == bindparam("owner"),
        outbox_message.c.state == PROCESSING,
    )
    .values(state=DONE, processed_at=bindparam("now"), lease_owner=None, lease_until=None)
)


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
        claim_observer: ClaimObserver | None = None,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.settings = settings or OutboxSettings()
        self.worker_id = worker_id or default_worker_id()
        self.topics = tuple(topics) if topics else registry.topics
        self.claim_observer = claim_observer
        self._stop = threading.Event()
        self._rng = random.Random()

    # -- claiming -----------------------------------------------------------------------------------------
    @_transient_db
    def claim(self, limit: int | None = None) -> list[OutboxMessage]:
        now = utcnow()
        c = outbox_message.c
        due = (
            select(c.id)
            .where(c.topic.in_(self.topics), _claimable(now))  # type: ignore[arg-type]
            .order_by(c.next_attempt_at, c.id)
            .limit(limit or self.settings.batch_size)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(outbox_message)
            .where(c.id.in_(due.scalar_subquery()), _claimable(now))  # type: ignore[arg-type]
            .values(
                state=PROCESSING,
                lease_owner=self.worker_id,
                lease_until=now + self.settings.lease,
                next_attempt_at=now + self.settings.lease,
                attempts=c.attempts + 1,
            )
            .returning(
                c.id, c.message_id, c.topic, c.key, c.payload, c.attempts, c.max_attempts, c.created_at,
                c.lease_owner, c.lease_until, c.last_error,
            )
        )
        with Session(self.engine) as session, session.begin():
            self._bury_crashers(session, now)
            rows = session.execute(stmt).all()
        claimed = sorted((OutboxMessage(*row) for row in rows), key=lambda m: m.id)
        if claimed and self.claim_observer:
            self.claim_observer(self.worker_id, now, claimed)
        return claimed

    def _bury_crashers(self, session: Session, now: datetime) -> None:
        """A row whose lease ran out after its last allowed attempt killed or hung its worker each time: it goes
        to dead letter instead of taking down one more worker."""
        c = outbox_message.c
        session.execute(
            update(outbox_message)
            .where(c.topic.in_(self.topics), c.state == PROCESSING, c.next_attempt_at <= now,
                   c.attempts >= c.max_attempts)
            .values(state=DEAD, lease_owner=None, lease_until=None,
                    last_error="the lease expired on every attempt: the handler kills or hangs its worker")
        )

    # -- handling -----------------------------------------------------------------------------------------
    def handle(self, message: OutboxMessage) -> Outcome:
        registration = self.registry.get(message.topic)
        try:
            with Session(self.engine) as session, session.begin():
                # The inbox row goes first: a concurrent delivery of the same message then waits on (or fails
                # at) the primary key before running the handler, and the common path costs no extra SELECT.
                record_processed(session, registration.consumer, message.message_id)
                registration.handler(session, message)
                self._mark_done(session, message)
            return Outcome(message, DONE)
        except LeaseLost:
            log.warning("lease lost on message %s; another worker owns it now", message.id)
            return Outcome(message, "lease_lost")
        except IntegrityError as exc:
            # Another delivery of the same message recorded it first: its effect stands, ours rolled back.
            if not self._inbox_has(registration.consumer, message.message_id):
                return self._fail(message, exc)
            return self._finish_duplicate(message)
        except Exception as exc:
            return self._fail(message, exc)

    def _mark_done(self, session: Session, message: OutboxMessage) -> None:
        result = session.execute(_MARK_DONE, {"row_id": message.id, "owner": self.worker_id, "now": utcnow()})
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(message.id)

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
        dead = message.attempts >= message.max_attempts
        now = utcnow()
        c = outbox_message.c
        values: dict[str, object] = {
            "state": DEAD if dead else PENDING,
            "last_error": error,
            "lease_owner": None,
            "lease_until": None,
            "next_attempt_at": now if dead else now + self.settings.backoff(message.attempts, self._rng),
        }
        with Session(self.engine) as session, session.begin():
            result = session.execute(
                update(outbox_message)
                .where(c.id == message.id, c.lease_owner == self.worker_id, c.state == PROCESSING)
                .values(**values)
            )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return Outcome(message, "lease_lost", error)
        if dead:
            log.error("message %s (%s) dead-lettered after %d attempts: %s", message.id, message.topic,
                      message.attempts, error)
        else:
            log.warning("message %s (%s) attempt %d failed: %s", message.id, message.topic,
                        message.attempts, error)
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
                log.exception("message %s: could not record its outcome", message.id)
                outcomes.append(Outcome(message, "error", str(exc)))
        return outcomes

    @_transient_db
    def _lease_holds(self, message: OutboxMessage) -> bool:
        """A batch shares one lease; before a message whose lease is half spent, renew it (or learn it is gone)."""
        assert message.lease_until is not None
        now = utcnow()
        if message.lease_until - now > self.settings.lease / 2:
            return True
        c = outbox_message.c
        with Session(self.engine) as session, session.begin():
            renewed = session.execute(
                update(outbox_message)
                .where(c.id == message.id, c.lease_owner == self.worker_id, c.state == PROCESSING)
                .values(lease_until=now + self.settings.lease, next_attempt_at=now + self.settings.lease)
            )
        return bool(renewed.rowcount)  # type: ignore[attr-defined]

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
        idle = self.settings.idle_sleep.total_seconds()
        log.info("worker %s handling topics %s", self.worker_id, ", ".join(self.topics))
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

