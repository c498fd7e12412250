"""Landing: a message is made durable as received with one insert and one commit, and the pipeline receives it
afterwards.

The Datahub pull worker may dequeue a message only once it is durable, and Datahub hands a queue out one
message at a time: whatever the worker does between peek and dequeue is paid once per message, in series. So
it lands the message — one row, one commit — and dequeues; `LandedQueue.process` then receives landed messages
in landing order through `Receiver.receive_many` (group commit, exactly the outcomes of receiving them one by
one) and deletes each landed row in the transaction that stores the message, or that answers it as a duplicate.

While the pull worker runs, `LandedReceiver` receives landed messages in a process of its own (`python -m
gateway.receive.landing`), on the other core: the pipeline's work then neither holds the loop's interpreter lock
nor delays its next peek. The worker wakes it through a pipe after each landing commit (and while it idles); it
gathers what lands for a moment, receives it in one group commit, and at the end of the pipe receives what is
left and exits.

Whatever crashes where: a landed row is either still there (received on the next `process`, by this worker or
after a restart) or gone together with the commit that stored its message; a message landed but not dequeued is
delivered again, landed again, and answered as a duplicate. Every landed byte ends up in the raw archive under a
registry entry, or was the same document as one that is.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import select as io_select
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.receive.group import RUN
from gateway.receive.outcomes import DUPLICATE, PARKED, REJECTED, ReceiveOutcome
from gateway.receive.receiver import Receiver
from gateway.runtime import settled_heap
from gateway.store.db import make_engine
from gateway.store.tables import LandedMessage, PullLogRow
from outbox.types import utcnow

log = logging.getLogger("gateway.receive.landing")

# Bytes of landed messages read for one `receive_many`: bounds the memory one batch holds.
_BATCH_BYTES = 64 * 1024 * 1024
# How long the receiving process lets landed messages gather after a wake-up before it receives them: one group
# commit for what lands meanwhile instead of a transaction each (latency is not what a pull worker is measured by).
GATHER_S = 0.2
# How often the receiving process looks at the table when nobody wakes it (a wake-up lost to a full pipe).
_IDLE_LOOK_S = 1.0

_TABLE = LandedMessage.__table__  # type: ignore[attr-defined]
_LOG = PullLogRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Landed:
    """A landed message as the queue hands it to the pipeline (`body` as received)."""

    id: int
    channel: str
    sender: str
    queue: str | None
    reference: str | None
    body: bytes


@dataclass(frozen=True)
class Received:
    """A landed message after the pipeline: its outcome is durable and its landed row is gone."""

    landed_id: int
    queue: str | None
    reference: str | None
    outcome: ReceiveOutcome


@dataclass(frozen=True)
class Stuck:
    """The landed message the pipeline failed on (an internal error: nothing of it was stored); it stays landed,
    and so does everything after it, to keep the order."""

    landed_id: int
    reference: str | None
    error: Exception


class LandedQueue:
    """Landed messages of one database, landed by `land` and received in order by `process`."""

    def __init__(self, engine: Engine, receiver: Receiver, *, allow_parking: bool = True,
                 clock: Callable[[], datetime] = utcnow,
                 while_storing: Callable[[Session, Sequence[int]], None] | None = None) -> None:
        """`while_storing(session, landed ids)`: runs inside each transaction that stores landed messages, just
        before it commits (the crash test's hook)."""
        self.engine = engine
        self.receiver = receiver
        self.allow_parking = allow_parking
        self.clock = clock
        self.while_storing = while_storing

    def land(self, body: bytes, *, channel: str, sender: str, queue: str | None = None,
             reference: str | None = None, sha256: str | None = None,
             log: Sequence[dict[str, Any]] = ()) -> int:
        """Store `body` as received, committed; its landed id. With a `reference`, a `landed` row of the pull log
        (`sha256`: the body's digest) and the earlier `log` rows go in the same commit."""
        now = self.clock()
        with self.engine.begin() as connection:
            landed_id = connection.execute(insert(_TABLE).returning(_TABLE.c.id), {
                "channel": channel, "authenticated_party": sender, "queue": queue, "reference": reference,
                "body": body, "landed_at": now}).scalar_one()
            rows = list(log)
            if reference is not None:
                digest = sha256 or hashlib.sha256(body).hexdigest()
                rows.append({"reference": reference, "queue": queue, "sha256": digest, "event": "landed", "at": now})
            if rows:
                connection.execute(insert(_LOG), rows)
        return int(landed_id)

    def log(self, rows: Sequence[dict[str, Any]]) -> None:
        """Write pull-log rows (dequeues) that no landing carried, in a commit of their own."""
        if rows:
            with self.engine.begin() as connection:
                connection.execute(insert(_LOG), list(rows))

    def waiting(self) -> int:
        with Session(self.engine) as session:
            return int(session.execute(select(func.count()).select_from(_TABLE)).scalar_one())

    def process(self, limit: int = RUN) -> tuple[list[Received], Stuck | None]:
        """Receive up to `limit` landed messages, oldest first (fewer when their bytes would exceed a batch's
        budget): the outcomes, each durable, and the message the pipeline failed on, if it did."""
        batch = self._next(limit)
        received: list[Received] = []
        start = 0
        while start < len(batch):
            # Consecutive messages of one channel and sender share a stream (the pull worker's all do).
            end = start + 1
            while end < len(batch) and (batch[end].channel, batch[end].sender) == (batch[start].channel,
                                                                                   batch[start].sender):
                end += 1
            stuck = self._receive(batch[start:end], received)
            if stuck is not None:
                return received, stuck
            start = end
        return received, None

    def drain(self) -> tuple[list[Received], Stuck | None]:
        """Process until no landed message is left, or the pipeline fails on one."""
        received: list[Received] = []
        while True:
            more, stuck = self.process()
            received.extend(more)
            if stuck is not None or not more:
                return received, stuck

    def _next(self, limit: int) -> list[Landed]:
        with Session(self.engine.execution_options(sqlite_begin="DEFERRED")) as session:
            sizes = session.execute(
                select(col(LandedMessage.id), func.length(col(LandedMessage.body)))
                .order_by(col(LandedMessage.id)).limit(limit)).all()
            ids: list[int] = []
            total = 0
            for landed_id, size in sizes:
                if ids and total + int(size) > _BATCH_BYTES:
                    break
                ids.append(int(landed_id))
                total += int(size)
            if not ids:
                return []
            rows = session.execute(
                select(_TABLE).where(_TABLE.c.id.in_(ids)).order_by(_TABLE.c.id)).mappings().all()
        return [Landed(r["id"], r["channel"], r["authenticated_party"], r["queue"], r["reference"], bytes(r["body"]))
                for r in rows]

    def _receive(self, batch: Sequence[Landed], received: list[Received]) -> Stuck | None:
        first = batch[0]

        def settle(session: Session, indexes: Sequence[int]) -> None:
            ids = [batch[i].id for i in indexes]
            session.execute(delete(_TABLE).where(_TABLE.c.id.in_(ids)))
            if self.while_storing is not None:
                self.while_storing(session, ids)

        done = 0
        try:
            for outcome in self.receiver.receive_many(
                    [m.body for m in batch], authenticated_gln=first.sender, channel=first.channel,
                    allow_parking=self.allow_parking, also=settle):
                received.append(Received(batch[done].id, batch[done].queue, batch[done].reference, outcome))
                done += 1
        except Exception:
            log.info("a batch of landed messages stopped at %d of %d; receiving the rest one by one", done,
                     len(batch))
        # One by one from where the group commit stopped, so that an error is pinned to its own message.
        for n in range(done, len(batch)):
            message = batch[n]

            def settle_one(session: Session, n: int = n) -> None:
                settle(session, (n,))

            try:
                outcome = self.receiver.receive(
                    message.body, authenticated_gln=message.sender, channel=message.channel,
                    allow_parking=self.allow_parking, also=settle_one)
            except Exception as exc:
                log.exception("landed message %d (%s) could not be received; it stays landed", message.id,
                              message.reference)
                return Stuck(message.id, message.reference, exc)
            received.append(Received(message.id, message.queue, message.reference, outcome))
        return None


def log_outcome(ref: str, outcome: ReceiveOutcome, where: str) -> None:
    """One log line per received message: rejections and parking say why."""
    if outcome.result == REJECTED:
        log.warning("message %s (%s %s from %s) rejected at %s level (%s): %s; dequeued as poison",
                    ref, outcome.document_type, outcome.message_id, where, outcome.level,
                    text_of(outcome.reason_code), "; ".join(f"{e.code} {e.text}" for e in outcome.errors[:5]))
    elif outcome.result == PARKED:
        log.info("message %s (%s %s) parked until its master data arrives: %s", ref,
                 outcome.document_type, outcome.message_id, "; ".join(e.text for e in outcome.errors[:5]))
    elif outcome.result == DUPLICATE:
        log.info("message %s (%s %s) was already received", ref, outcome.document_type, outcome.message_id)
    else:
        log.debug("message %s (%s %s): %s", ref, outcome.document_type, outcome.message_id, outcome.result)


def text_of(code: object) -> str | None:
    """Reason codes may be str enums; logs and JSON want their plain value."""
    if code is None:
        return None
    value = getattr(code, "value", code)
    return str(value)


def report(received: Sequence[Received], stuck: Stuck | None) -> None:
    for r in received:
        log_outcome(r.reference or str(r.landed_id), r.outcome, r.queue or "all domains")
    if stuck is not None:
        log.error("landed message %s could not be received (%s: %s); it and the messages landed after it wait",
                  stuck.reference or stuck.landed_id, type(stuck.error).__name__, stuck.error)


class LandedReceiver:
    """The receiving process's handle in the landing process: wake it after each landing commit, `finish` to let
    it receive what is left and end. A process that died is started again at the next wake-up."""

    def __init__(self, database_url: str, max_bytes: int, *, backoff_min: float = 1.0,
                 backoff_max: float = 60.0) -> None:
        self._start_line = f"{database_url}\n{max_bytes} {backoff_min} {backoff_max}\n".encode()
        self._process: subprocess.Popen[bytes] | None = None
        self._start()

    def _start(self) -> None:
        # A fresh interpreter (not fork: the landing process runs threads); the database URL travels through the
        # pipe, not the command line, which other users of the machine can read.
        self._process = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE)
        assert self._process.stdin is not None
        self._process.stdin.write(self._start_line)
        self._process.stdin.flush()
        os.set_blocking(self._process.stdin.fileno(), False)

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Wait until the process has set up (to measure it warm); whether it said so within `timeout` s."""
        process = self._process
        if process is None or process.stdout is None:
            return False
        ready, _, _ = io_select.select([process.stdout], [], [], timeout)
        return bool(ready) and process.stdout.read(1) == b"."

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def wake(self) -> None:
        """A message landed (or the worker idles): wake the receiving process (a wake-up already pending is
        enough); start it again if it died."""
        process = self._process
        if process is None:
            return
        if process.poll() is not None:
            log.error("the receiving process ended (status %s); starting it again", process.returncode)
            self._start()
            process = self._process
            assert process is not None
        assert process.stdin is not None
        # A full pipe holds wake-ups enough; a process gone is started again at the next one.
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(process.stdin.fileno(), b"\n")

    def finish(self) -> int | None:
        """Close the pipe: the process receives what is landed and exits; its exit status."""
        process, self._process = self._process, None
        if process is None:
            return None
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()
        status = process.wait()
        if process.stdout is not None:
            process.stdout.close()
        return status


def _serve(queue: LandedQueue, wake: int, backoff_min: float, backoff_max: float) -> None:
    """The receiving process's loop: receive what landed whenever woken (and now and then unwoken), back off
    while the pipeline fails, and at the end of the pipe receive the rest."""
    delay = backoff_min
    open_pipe = True
    while True:
        if open_pipe:
            # Woken: let more land for a moment (one group commit for them all), unless the pipe ends meanwhile.
            open_pipe = _woken(wake, _IDLE_LOOK_S) and _woken(wake, GATHER_S, until_end=True)
        while True:
            received, stuck = queue.process()
            report(received, stuck)
            if stuck is not None or not received:
                break
        if stuck is None:
            delay = backoff_min
            if not open_pipe:
                return
            continue
        if not open_pipe:
            return  # the landing process has ended; the stuck message waits for the next worker
        open_pipe = _woken(wake, delay, until_end=True)
        delay = min(delay * 2, backoff_max)


def _woken(wake: int, seconds: float, *, until_end: bool = False) -> bool:
    """Wait up to `seconds` for a wake-up (with `until_end`: the whole time, reading wake-ups as they come);
    whether the pipe is still open."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = io_select.select([wake], [], [], left)
        if not ready:
            return True
        if not os.read(wake, 65536):
            return False
        if not until_end:
            return True
    return True


def _main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stdin = sys.stdin.fileno()
    # Unbuffered reads: the start lines, then wake-ups as they come.
    head = b""
    while head.count(b"\n") < 2:
        chunk = os.read(stdin, 1)
        if not chunk:
            return
        head += chunk
    url, numbers = head.decode().splitlines()
    max_bytes, backoff_min, backoff_max = numbers.split()
    engine = make_engine(url)
    receiver = Receiver(engine, max_bytes=int(max_bytes))
    os.write(sys.stdout.fileno(), b".")  # ready
    try:
        with settled_heap():
            _serve(LandedQueue(engine, receiver), stdin, float(backoff_min), float(backoff_max))
    finally:
        receiver.close()
        engine.dispose()


if __name__ == "__main__":
    _main()
    # Everything is committed and closed: skip the interpreter's teardown of a large heap (about a second here),
    # which the landing process would wait for.
    logging.shutdown()
    os._exit(0)
