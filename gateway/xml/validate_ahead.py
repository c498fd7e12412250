"""XSD verdicts for a stream of small documents, worked out ahead of time in a helper process on the other core
(and, for valid ones, the raw archive's compressed copy).

Why a process: for a single-series E66 (about 10 kB) parse + XSD validation is about a third of what the whole
receive pipeline spends on it. libxml2 gives up the GIL only while it validates, so a thread could take that
work over only with two GIL hand-overs per message, each of which can wait out the interpreter's switch interval
(5 ms) while the receiving thread maps and stores; measured, threads made ingest slower. The helper process
parses and validates the same bytes with the same hardened parser and the same schema files and sends back
only the verdict (the list of XSD issues, usually empty) and, for a valid document, its zlib-compressed copy for
the raw archive (the next costliest step for a small document). The receiving process still parses every
document itself, because it maps the tree it parsed.

Why not `concurrent.futures.ProcessPoolExecutor`: it feeds its worker from two threads of the calling process,
which need the GIL the receiving thread holds, and keeps only two tasks queued for the worker; measured, the
helper then often sat idle and the hand-overs ate half of the gain. Here the receiving thread itself writes
batches into an enlarged pipe, never more than the pipe holds (so a write never blocks), and reads the answers,
which come back in order, when it needs them.

The verdict is exactly what in-process validation would give: same bytes, same parser settings, same compiled
schema files. Whatever the helper cannot judge the same way (unreadable bytes, an unknown schema) it answers
with "no verdict", and so does a helper that died, is still starting, or is behind because the machine held it
up: the caller then validates in-process, as it always did, rather than wait (it waits only briefly, for the
batch the helper is working on). Nothing is stored by the helper; losing it loses nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Final

from gateway.xml.hardened import XmlInputError, parse_xml
from gateway.xml.schemas import SchemaIssue, UnknownSchemaError, default_registry

log = logging.getLogger("gateway.xml.validate_ahead")

Verdict = list[SchemaIssue] | None
# Per document: the verdict, and the document compressed for the raw archive when it is valid and asked for.
Answer = tuple[Verdict, bytes | None]

# Documents per batch: enough that a batch's hand-over (pickling, a write, a read) is small per document, few
# enough that the helper starts early. A batch is also kept to a quarter of the pipe, so that several are queued.
CHUNK: Final = 25
PIPE_BYTES: Final = 1024 * 1024  # Linux's default ceiling for an unprivileged pipe (/proc/sys/fs/pipe-max-size)
# A helper that has not answered within this time is given up on (ended; the next stream starts a new one).
ANSWER_TIMEOUT_S = 60.0
# How long the receiving process waits for the batch the helper is working on before it validates the document
# itself: a fraction of what validating a batch would cost it. The helper (measured 1.5–2 times as fast per
# document as the receiving process) falls behind only when the machine holds it up, and then waiting longer
# would only lose time. Tests set it high, to know which verdicts come.
PATIENCE_S = 0.002


def _judge(datas: list[bytes], max_bytes: int, archive_level: int | None) -> list[Answer]:
    """In the helper: each document's XSD issues, or None where the receiving process must judge it itself; and
    a valid document compressed for the raw archive (zlib at `archive_level`), if asked for."""
    registry = default_registry()
    out: list[Answer] = []
    for data in datas:
        try:
            tree = parse_xml(data, max_bytes=max_bytes)
            issues = registry.validate_with(registry.entry_for_root(tree.getroot()), tree)
        except (XmlInputError, UnknownSchemaError):
            out.append((None, None))  # refused before validation: the receiving process reports exactly why
            continue
        archived = zlib.compress(data, archive_level) if archive_level is not None and not issues else None
        out.append((issues, archived))
    return out


def _frame(ticket: int, documents: Sequence[bytes]) -> bytes:
    """A batch as one byte string: ticket, count, each length, then the documents back to back (one copy, no
    pickling of the documents)."""
    return b"".join((struct.pack(f"<QI{len(documents)}I", ticket, len(documents), *map(len, documents)),
                     *documents))


def _unframe(frame: bytes) -> tuple[int, list[bytes]]:
    ticket, count = struct.unpack_from("<QI", frame)
    lengths = struct.unpack_from(f"<{count}I", frame, 12)
    documents, offset = [], 12 + 4 * count
    for length in lengths:
        documents.append(frame[offset:offset + length])
        offset += length
    return ticket, documents


def _serve(requests: Connection, answers: Connection, max_bytes: int, archive_level: int | None) -> None:
    """The helper's loop: framed batches in, (ticket, verdicts) out, until the pipe closes or says stop."""
    # Ctrl-C in a terminal reaches the whole process group: the receiving process decides, the helper goes
    # when its pipe closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            frame = requests.recv_bytes()
        except EOFError:
            return
        if not frame:
            return
        ticket, documents = _unframe(frame)
        answers.send((ticket, _judge(documents, max_bytes, archive_level)))


def second_core_available() -> bool:
    return len(os.sched_getaffinity(0)) > 1 if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1) > 1


def _enlarge(connection: Connection) -> int:
    """Make the pipe under `connection` hold PIPE_BYTES if the system allows; the bytes it holds."""
    try:
        import fcntl

        fcntl.fcntl(connection.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        return int(fcntl.fcntl(connection.fileno(), fcntl.F_GETPIPE_SZ))
    except (ImportError, AttributeError, OSError):
        return 64 * 1024  # the common default (Linux, macOS)


class HelperGone(Exception):
    """The helper process died, hung or could not be started."""


class ValidationHelper:
    """One helper process (`python -m gateway.xml.validate_ahead`, about 30 MB), started on first use (ready in
    about 0.1 s) and kept for later streams; `close` ends it, and so does the end of the receiving process (the
    helper stops at the end of its input).

    One stream uses the helper at a time; a stream that finds it busy (another thread's) validates in-process.
    Only for the default schema registry: the helper compiles the schema files under ``schemas/`` itself.
    """

    def __init__(self, max_bytes: int, archive_level: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`archive_level`: also compress each valid document with zlib at this level (see `Verdicts.archived`),
        the receiving process's next costliest step for a small document after validating it. `clock`: what
        dates a batch's hand-over, for ANSWER_TIMEOUT_S (tests move it instead of waiting)."""
        self._clock = clock
        self._max_bytes = max_bytes
        self._archive_level = archive_level
        self._process: subprocess.Popen[bytes] | None = None
        self._requests: Connection | None = None
        self._answers: Connection | None = None
        self._capacity = 0
        self._in_flight: deque[tuple[int, int, float]] = deque()  # (ticket, bytes, sent at) not yet answered
        self._next_ticket = 0
        self._in_use = threading.Lock()  # held by the one stream using the helper
        self._answered = False  # whether the current helper process has answered yet (it is up)
        self._starting = threading.RLock()

    def start(self) -> None:
        """Start the helper process now (it loads in the background) rather than when a stream needs it."""
        with self._starting:
            if self._process is not None and self._process.poll() is None:
                return
            self.discard()
            # A fresh interpreter running this module: not fork (the receiving process runs threads) and not
            # multiprocessing's spawn (which would import the caller's main module again in the helper).
            level = -1 if self._archive_level is None else self._archive_level
            process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(self._max_bytes), str(level)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            assert process.stdin is not None and process.stdout is not None
            requests = Connection(os.dup(process.stdin.fileno()), readable=False)
            answers = Connection(os.dup(process.stdout.fileno()), writable=False)
            process.stdin.close()
            process.stdout.close()
            self._capacity = _enlarge(requests)
            _enlarge(answers)
            self._process, self._requests, self._answers = process, requests, answers
            self._in_flight.clear()
            self._answered = False

    @property
    def pid(self) -> int | None:
        """The helper process's id while it runs."""
        return self._process.pid if self._process is not None else None

    def wait_ready(self) -> None:
        """Start the helper if needed and wait until it answers; for measuring or testing it warm."""
        with self._in_use:
            self.start()
            if not self._answered:
                ticket = self.ticket()
                self._send(_frame(ticket, []))
                while (answer := self._receive(wait=ANSWER_TIMEOUT_S)) is None or answer[0] != ticket:
                    if answer is None:
                        raise HelperGone(f"no answer from the helper within {ANSWER_TIMEOUT_S:.0f} s")

    def ahead(self, datas: Sequence[bytes], wanted: Callable[[bytes], bool]) -> Verdicts:
        """The helper's verdicts on the `wanted` documents of `datas`, sent to it in order, as far ahead of
        where `Verdicts.issues` is asked as the pipe holds."""
        return Verdicts(self, datas, [i for i, data in enumerate(datas) if wanted(data)])

    def close(self) -> None:
        """End the helper process: at once if it still has work under way (which nobody will read)."""
        self._stop(at_once=bool(self._in_flight))

    def discard(self) -> None:
        """Give up on the current helper process (dead or hung); the next stream starts a new one."""
        self._stop(at_once=True)

    def _stop(self, at_once: bool) -> None:
        process, requests, answers = self._process, self._requests, self._answers
        self._process = self._requests = self._answers = None
        self._in_flight.clear()
        if process is None:
            return
        if not at_once and process.poll() is None:
            try:
                assert requests is not None
                requests.send_bytes(b"")
                process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if process.poll() is None:
            process.kill()  # not terminate: a stopped (hung) process would hold SIGTERM until continued
        process.wait()
        for connection in (requests, answers):
            if connection is not None:
                connection.close()

    # -- for Verdicts, while it holds _in_use ------------------------------------------------------------
    def capacity(self) -> int:
        self.start()
        return self._capacity

    def in_flight(self) -> int:
        return len(self._in_flight)

    def room(self) -> int:
        return self._capacity - sum(size for _, size, _ in self._in_flight)

    def _send(self, frame: bytes) -> None:
        if self._process is None:
            self.start()
        assert self._requests is not None
        ticket, _ = struct.unpack_from("<QI", frame)
        try:
            self._requests.send_bytes(frame)
        except OSError as exc:
            raise HelperGone(f"cannot send to the helper: {exc}") from exc
        self._in_flight.append((ticket, len(frame) + 16, self._clock()))  # + the connection's length prefix

    def ticket(self) -> int:
        self._next_ticket += 1
        return self._next_ticket

    def _receive(self, wait: float = 0.0) -> tuple[int, list[Answer]] | None:
        """The oldest answer outstanding, waiting up to `wait` seconds for it; None if it has not arrived."""
        assert self._answers is not None
        if self._in_flight and self._clock() - self._in_flight[0][2] > ANSWER_TIMEOUT_S:
            raise HelperGone(f"no answer from the helper within {ANSWER_TIMEOUT_S:.0f} s")
        try:
            if not self._answers.poll(wait):
                return None
            ticket, verdicts = self._answers.recv()
        except (EOFError, OSError) as exc:
            raise HelperGone(f"the helper stopped: {exc!r}") from exc
        expected, _, _ = self._in_flight.popleft()
        if ticket != expected:
            raise HelperGone(f"answer {ticket} arrived where {expected} was due")
        self._answered = True
        return ticket, verdicts

    def working_on(self, ticket: int) -> bool:
        """Whether `ticket` is the batch the helper works on now (the oldest unanswered), and it is up and
        answering: then waiting for it is cheaper than validating here."""
        return self._answered and bool(self._in_flight) and self._in_flight[0][0] == ticket


class Verdicts:
    """The helper's verdicts for one stream of documents, asked for by the document's index in the stream, in
    increasing order (an index asked for again, or out of order, may get no verdict).

    The helper only ever saves time: where its verdict is not there yet and it is not working on it right now
    (still starting, or behind after the machine's other work held it up), the answer is "no verdict" and the
    receiving process validates itself; the helper then skips ahead.
    """

    def __init__(self, helper: ValidationHelper, datas: Sequence[bytes], indices: list[int]) -> None:
        self._helper = helper
        self._datas = datas
        self._owns = helper._in_use.acquire(blocking=False)  # released by close()
        self._failed = not self._owns
        self._batches: list[list[int]] = []
        self._sizes: list[int] = []  # document bytes per batch
        self._where: dict[int, tuple[int, int]] = {}  # document index → (batch, position in it)
        if self._owns:
            self._plan(indices, max(16 * 1024, helper.capacity() // 4))
        self._sent = 0  # batches before this one were sent, or passed over
        self._reading = 0  # the batch the stream is reading
        self._waited: set[int] = set()  # batches waited for once already
        self._ticket_batch: dict[int, int] = {}  # of the batches under way, both ways
        self._batch_ticket: dict[int, int] = {}
        self._answers: dict[int, list[Answer]] = {}  # batch → answers: the one being read and what is ahead

    def _plan(self, indices: list[int], max_bytes: int) -> None:
        for index in indices:
            size = len(self._datas[index])
            # The first batches are small, so that the first answer is there soon: 1, 2, 4, … then CHUNK.
            full = min(CHUNK, 1 << len(self._batches) - 1) if self._batches else 0
            if not self._batches or len(self._batches[-1]) >= full or self._sizes[-1] + size > max_bytes:
                self._batches.append([])
                self._sizes.append(0)
            self._where[index] = (len(self._batches) - 1, len(self._batches[-1]))
            self._batches[-1].append(index)
            self._sizes[-1] += size

    def issues(self, index: int) -> Verdict:
        """The XSD issues of document `index` (empty: valid), or None: no verdict, validate in-process."""
        where = self._where.get(index)
        if where is None or self._failed:
            return None
        batch, position = where
        try:
            verdicts = self._verdicts_of(batch)
        except HelperGone as exc:
            log.warning("validation helper gave no verdict (%s); validating in this process", exc)
            self._failed = True
            self._helper.discard()
            self.close()
            return None
        return verdicts[position][0] if verdicts is not None else None

    def archived(self, index: int) -> bytes | None:
        """Document `index` compressed for the raw archive, if the helper did it and its answer is still kept
        (the batch being read and those ahead); never waits."""
        where = self._where.get(index)
        answers = self._answers.get(where[0]) if where is not None else None
        return answers[where[1]][1] if answers is not None and where is not None else None

    def close(self) -> None:
        """Done with the helper: let another stream use it. Answers still under way are skipped by the next."""
        if self._owns:
            self._owns = False
            self._helper._in_use.release()

    def _verdicts_of(self, batch: int) -> list[Answer] | None:
        verdicts = self._answers.get(batch)
        return verdicts if verdicts is not None else self._fetch(batch)

    def _fetch(self, batch: int) -> list[Answer] | None:
        """`batch`'s answer if it is there, or comes within PATIENCE_S while the helper works on it; else None:
        the helper is behind (or still starting) and this process validates rather than waits. Keeps the pipe
        topped up."""
        self._reading = batch
        for done in [b for b in self._answers if b < batch]:
            del self._answers[done]  # the stream has moved past them
        helper = self._helper
        while (answer := helper._receive()) is not None:
            self._take(answer)
        self._sent = max(self._sent, batch)  # batches passed over unsent are validated here: skip them
        self._top_up()
        while batch not in self._answers:
            ticket = self._batch_ticket.get(batch)
            if ticket is None or batch in self._waited or not helper.working_on(ticket):
                return None
            self._waited.add(batch)  # once per batch: its later documents only look
            if (answer := helper._receive(wait=PATIENCE_S)) is None:
                return None
            self._take(answer)
        return self._answers[batch]

    def _take(self, answer: tuple[int, list[Answer]]) -> None:
        ticket, verdicts = answer
        batch = self._ticket_batch.pop(ticket, None)  # None: left over from an earlier stream
        if batch is not None:
            del self._batch_ticket[batch]
            if batch >= self._reading:  # else the stream has passed it, validating here
                self._answers[batch] = verdicts

    def _top_up(self) -> None:
        """Send the next batches, as many as the pipe holds without a write that could block."""
        helper = self._helper
        while self._sent < len(self._batches):
            if helper.in_flight() and helper.room() < self._sizes[self._sent] + 16 + 12 + 4 * CHUNK:
                return
            ticket = helper.ticket()
            helper._send(_frame(ticket, [self._datas[i] for i in self._batches[self._sent]]))
            self._ticket_batch[ticket] = self._sent
            self._batch_ticket[self._sent] = ticket
            self._sent += 1


def _main(argv: Sequence[str]) -> None:
    """The helper process: `python -m gateway.xml.validate_ahead MAX_BYTES ARCHIVE_LEVEL` (-1: no archive copy),
    batches on stdin, answers on stdout."""
    requests = Connection(os.dup(0), writable=False)
    answers = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # anything printed goes to stderr, never into the answers
    level = int(argv[2])
    _serve(requests, answers, int(argv[1]), None if level < 0 else level)


if __name__ == "__main__":
    _main(sys.argv)
