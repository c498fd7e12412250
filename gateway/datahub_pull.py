"""The Datahub pull worker: peek → land (one insert, one commit) → dequeue, queue by queue; the landed messages go
through the receive pipeline in group commits, on a thread of their own while the worker runs.

Reliability model:

* A message is dequeued only after it is durable: its bytes, as received, in one committed row (see
  `gateway.receive.landing`). That commit is the only thing the loop waits for between peek and dequeue; Datahub
  hands a queue out one message at a time, so the loop's speed is the protocol's own.
* Landed messages are received in landing order through `Receiver.receive_many`, with exactly the outcomes of
  receiving them one by one; each landed row is deleted in the transaction that stores its message. A crash at any
  point loses nothing and applies nothing twice: a landed message is received after the restart; a message landed
  but not dequeued is delivered again, landed again and answered as a duplicate (same sender, message id and
  document), which changes nothing.
* A message the pipeline rejects (schema, process or event level) is stored as rejected (archive and registry
  keep it for the support log): a poison message never blocks its queue. A message that fails only because of
  ordering across queues (an E66 before its E58) is stored as parked; the pipeline releases it when the missing
  data arrives.
* When the pipeline itself fails on a landed message (database down, a bug), nothing of it was stored: it stays
  landed, and the messages landed after it wait behind it (order matters), while the worker backs off and tries
  again. Landing stops while more than `max_backlog` messages wait. Transport errors are retried inside the client
  (tenacity); what still fails makes the worker back off and continue. A failed dequeue leaves the message at the
  head of its queue: the next peek returns it again, and it is dequeued then (landed once per pass).

`poll_once` lands one message per queue in turn until every queue is empty (or a limit is reached), so a busy
metering queue does not starve master data, and then receives everything landed.

Run it with `python -m gateway.datahub_pull [--config FILE] [--once] [--endpoint URL] [--max-messages N]`
(the same arguments as `gateway datahub-pull`). Hidden flags exist for the crash test only: `--crash-after-commit
N` SIGKILLs the process right after the N-th landing commit (before that message's dequeue),
`--crash-after-dequeue N` right after the N-th dequeue (before the pipeline read it), `--crash-while-storing N`
inside the pipeline's transaction that stores the N-th landed message, before it commits.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.config import Settings, load_settings
from gateway.datahub_settings import (
    DEFAULT_DATAHUB_GLN,
    DatahubConfigError,
    DatahubSettings,
    datahub_settings,
    make_client,
)
from gateway.parties import get_party, own_glns
from gateway.receive import CHANNEL_DATAHUB, Receiver
from gateway.receive.landing import LandedQueue, LandedReceiver, Received, Stuck, report, text_of
from gateway.runtime import settled_heap
from gateway.soap.datahub_client import DatahubClient, DatahubFault, DatahubTransportError, PeekedMessage
from gateway.store.db import make_engine
from gateway.store.migrate import current_revision, head_revision

log = logging.getLogger("gateway.datahub_pull")

LANDED = "landed"  # the result of a message that is landed and dequeued but not yet received by the pipeline
# Landed messages waiting for the pipeline beyond which the worker stops landing more (a pipeline that keeps
# failing must not turn Datahub's queue into ours).
MAX_BACKLOG = 10_000


@dataclass
class PullHooks:
    """Called at the worker's steps (the crash test kills the process in them): after the N-th landing commit,
    after the N-th dequeue, and inside the transaction that stores landed messages, before it commits."""

    after_landing: Callable[[PeekedMessage, int], None] | None = None
    after_dequeue: Callable[[PeekedMessage, int], None] | None = None
    while_storing: Callable[[Session, Sequence[int]], None] | None = None


@dataclass(frozen=True)
class Pulled:
    """One message taken from a queue: what the pipeline said and whether Datahub let go of it."""

    queue: str | None
    ref: str
    message_id: str | None
    document_type: str | None
    result: str
    reason_code: str | None
    dequeued: bool


@dataclass
class _Landing:
    queue: str | None
    peeked: PeekedMessage
    landed_id: int
    sha256: str
    dequeued: bool = False
    failed_dequeues: int = 0


@dataclass
class PollResult:
    pulled: list[Pulled] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    pipeline_errors: list[str] = field(default_factory=list)
    dequeue_failures: int = 0
    recovered: int = 0  # messages landed by an earlier pass or run, received in this one

    @property
    def idle(self) -> bool:
        return not self.pulled

    @property
    def errors(self) -> int:
        return len(self.transport_errors) + len(self.pipeline_errors) + self.dequeue_failures

    def count(self, result: str) -> int:
        return sum(1 for p in self.pulled if p.result == result)

    def summary(self) -> dict[str, Any]:
        results: dict[str, int] = {}
        for p in self.pulled:
            results[p.result] = results.get(p.result, 0) + 1
        return {
            "pulled": len(self.pulled),
            "dequeued": sum(1 for p in self.pulled if p.dequeued),
            "results": results,
            "recovered": self.recovered,
            "transport_errors": len(self.transport_errors),
            "pipeline_errors": len(self.pipeline_errors),
            "dequeue_failures": self.dequeue_failures,
        }


class DatahubPuller:
    def __init__(
        self,
        engine: Engine,
        client: DatahubClient,
        receiver: Receiver,
        *,
        our_gln: str | None,
        datahub_gln: str = DEFAULT_DATAHUB_GLN,
        domains: Sequence[str] = (),
        backoff_min: float = 1.0,
        backoff_max: float = 60.0,
        max_messages: int = 1000,
        max_backlog: int = MAX_BACKLOG,
        hooks: PullHooks | None = None,
    ) -> None:
        """``domains``: the queues (BB01…BB06) to poll, in this order; empty: the whole queue at once.
        ``datahub_gln`` is the physical sender of everything pulled (the pipeline authenticates it)."""
        if backoff_min <= 0 or backoff_max < backoff_min:
            raise ValueError("backoff needs 0 < backoff_min <= backoff_max")
        self.engine = engine
        self.client = client
        self.receiver = receiver
        self.our_gln = our_gln
        self.datahub_gln = datahub_gln
        self.queues: tuple[str | None, ...] = tuple(domains) or (None,)
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.max_messages = max_messages
        self.max_backlog = max_backlog
        self.hooks = hooks or PullHooks()
        self.landing = LandedQueue(engine, receiver, allow_parking=True, while_storing=self.hooks.while_storing)
        self._rng = random.Random()
        self._landings = 0
        self._dequeues = 0
        self._backlog_seen: int | None = None
        self._backlog_checked = 0
        self._unlogged: list[dict[str, Any]] = []  # dequeues not yet written to the pull log

    def check_identity(self) -> None:
        """Warn early when the configured GLN is not one of ours: the pipeline would reject everything."""
        if self.our_gln and self.our_gln not in own_glns(self.engine):
            log.warning("%s is not registered as one of our own GLNs: pulled messages addressed to it will be "
                        "rejected (gateway parties add %s --own …)", self.our_gln, self.our_gln)

    # -- one pass ------------------------------------------------------------------------------------------
    def poll_once(self, max_messages: int | None = None) -> PollResult:
        """Land one message per queue in turn until all queues are empty or failing, or the limit is reached;
        then receive everything landed (this pass's messages and any an earlier run left)."""
        result = PollResult()
        landings = self.land_pass(max_messages, result)
        received, stuck = self.landing.drain()
        self._report(received, stuck, result)
        outcomes = {r.landed_id: r.outcome for r in received}
        result.recovered = len(received) - sum(1 for landing in landings if landing.landed_id in outcomes)
        for landing in landings:
            outcome = outcomes.get(landing.landed_id)
            result.pulled.append(Pulled(
                landing.queue, landing.peeked.ref, outcome.message_id if outcome else None,
                outcome.document_type if outcome else None, outcome.result if outcome else LANDED,
                text_of(outcome.reason_code) if outcome else None, landing.dequeued))
        return result

    def land_pass(self, max_messages: int | None, result: PollResult,
                  landed: Callable[[], None] | None = None) -> list[_Landing]:
        """Peek, land and dequeue one message per queue in turn until all queues are empty or failing, or the limit
        is reached; `landed` is called after each landing commit."""
        limit = max_messages if max_messages is not None else self.max_messages
        landings: list[_Landing] = []
        active = list(self.queues)
        try:
            while active and len(landings) < limit:
                for queue in list(active):
                    if len(landings) >= limit:
                        break
                    if not self._take_one(queue, landings, result, landed):
                        active.remove(queue)
        finally:
            self._flush_log()
        return landings

    def _flush_log(self) -> None:
        """The pass's last dequeues, which no landing carried into the pull log. Only the support log's timeline
        reads them: a failure here is logged, never a reason to stop pulling."""
        try:
            self.landing.log(self._unlogged)
            self._unlogged = []
        except Exception:
            log.warning("could not write %d dequeue(s) to the pull log; kept for the next landing",
                        len(self._unlogged), exc_info=True)

    def _take_one(self, queue: str | None, landings: list[_Landing], result: PollResult,
                  landed: Callable[[], None] | None) -> bool:
        """Peek, land, dequeue one message; False when this queue is done for this pass."""
        where = queue or "all domains"
        try:
            peeked = self.client.peek([queue] if queue else ())
        except (DatahubTransportError, DatahubFault) as exc:
            log.warning("peek (%s) failed: %s", where, exc)
            result.transport_errors.append(f"peek {where}: {exc}")
            return False
        if peeked is None:
            return False
        # A message whose dequeue failed is at the head of its queue still: it is landed already.
        landing = next((x for x in landings if x.peeked.ref == peeked.ref and not x.dequeued), None)
        if landing is None:
            digest = hashlib.sha256(peeked.payload).hexdigest()
            try:
                landed_id = self.landing.land(peeked.payload, channel=CHANNEL_DATAHUB, sender=self.datahub_gln,
                                              queue=queue, reference=peeked.ref, sha256=digest, log=self._unlogged)
                self._unlogged = []
            except Exception as exc:  # nothing was committed: the message stays in Datahub's queue
                log.exception("message %s (%s) could not be landed; it stays in the queue", peeked.ref, where)
                result.pipeline_errors.append(f"{peeked.ref}: {type(exc).__name__}: {exc}")
                return False
            landing = _Landing(queue, peeked, landed_id, digest)
            landings.append(landing)
            self._landings += 1
            if self.hooks.after_landing is not None:
                self.hooks.after_landing(peeked, self._landings)
            if landed is not None:
                landed()
        landing.dequeued = self._dequeue(peeked, result)
        self._unlogged.append({"reference": peeked.ref, "queue": queue, "sha256": landing.sha256,
                               "event": "dequeued" if landing.dequeued else "dequeue_failed",
                               "at": self.landing.clock()})
        if landing.dequeued:
            self._dequeues += 1
            if self.hooks.after_dequeue is not None:
                self.hooks.after_dequeue(peeked, self._dequeues)
            return True
        landing.failed_dequeues += 1
        # Go on: the next peek hands the same message out again. Twice failed: leave the queue for this pass.
        return landing.failed_dequeues < 2

    def _dequeue(self, peeked: PeekedMessage, result: PollResult) -> bool:
        try:
            self.client.dequeue(peeked.ref)
        except (DatahubTransportError, DatahubFault) as exc:
            log.warning("dequeue of %s failed (%s); it is landed and will be answered as a duplicate when it is "
                        "read again", peeked.ref, exc)
            result.dequeue_failures += 1
            return False
        return True

    @staticmethod
    def _report(received: Sequence[Received], stuck: Stuck | None, result: PollResult) -> None:
        report(received, stuck)
        if stuck is not None:
            result.pipeline_errors.append(
                f"{stuck.reference or stuck.landed_id}: {type(stuck.error).__name__}: {stuck.error}")

    # -- the loop ------------------------------------------------------------------------------------------
    def receiving_process(self) -> LandedReceiver:
        """A process that receives what this worker lands (see `run_forever`)."""
        return LandedReceiver(self.engine.url.render_as_string(hide_password=False), self.receiver.max_bytes,
                              backoff_min=self.backoff_min, backoff_max=self.backoff_max)

    def run_forever(self, stop: threading.Event, *, max_messages: int | None = None,
                    receiving: LandedReceiver | None = None) -> int:
        """Pull until ``stop`` is set (or ``max_messages`` were pulled) while a process of its own receives what
        was landed (`receiving`, or one started now: see `receiving_process`); returns how many were pulled,
        once everything landed is received (or the pipeline is stuck on a message) and that process has ended.
        Empty queues and failures back off exponentially between ``backoff_min`` and ``backoff_max``."""
        self.check_identity()
        receiving = receiving or self.receiving_process()
        receiving.wake()  # whatever an earlier run left
        delay = self.backoff_min
        total = 0
        try:
            while not stop.is_set():
                remaining = None if max_messages is None else max_messages - total
                if remaining is not None and remaining <= 0:
                    break
                pulled = 0
                result = PollResult()
                if self._backlog() >= self.max_backlog:
                    log.warning("%d landed messages wait for the pipeline; landing paused", self._backlog())
                else:
                    try:
                        pulled = len(self.land_pass(remaining, result, receiving.wake))
                    except Exception:  # the loop must outlive anything a single pass does
                        log.exception("poll failed; backing off %.1f s", delay)
                total += pulled
                if pulled and not result.errors:
                    delay = self.backoff_min
                    continue
                receiving.wake()  # and started again, should it have died
                stop.wait(delay * self._rng.uniform(0.9, 1.1))
                delay = min(delay * 2, self.backoff_max)
        finally:
            if receiving.finish() != 0:
                # It died on the way: what it left landed is received here.
                received, stuck = self.landing.drain()
                report(received, stuck)
        return total

    def _backlog(self) -> int:
        """Landed messages waiting, looked up every hundred landings (a count is cheap, but not free)."""
        if self._backlog_seen is None or self._landings >= self._backlog_checked + 100:
            self._backlog_seen = self.landing.waiting()
            self._backlog_checked = self._landings
        return self._backlog_seen


# -- command line -------------------------------------------------------------------------------------------
def configure_pull_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="one pass over the queues, then exit")
    parser.add_argument("--endpoint", help="Datahub endpoint URL (default: [datahub] endpoint)")
    parser.add_argument("--max-messages", type=int, default=None, metavar="N",
                        help="stop after N messages (with --once: at most N in the pass)")
    # Test-only (the crash test), off by default: SIGKILL right after the N-th landing commit (before its dequeue),
    # after the N-th dequeue (before the pipeline read it), or inside the transaction storing the N-th landed message.
    for flag in ("--crash-after-commit", "--crash-after-dequeue", "--crash-while-storing"):
        parser.add_argument(flag, type=int, default=None, metavar="N", help=argparse.SUPPRESS)


def main_pull(args: argparse.Namespace, settings: Settings) -> int:
    try:
        config = datahub_settings(settings)
        endpoint = args.endpoint or config.endpoint
        if not endpoint:
            raise DatahubConfigError("no Datahub endpoint: give --endpoint or set [datahub] endpoint")
        client = make_client(config, endpoint)
    except DatahubConfigError as exc:
        print(f"gateway datahub-pull: {exc}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    try:
        if current_revision(engine) != head_revision(engine):
            print("gateway datahub-pull: the database schema is not at the latest revision: run `gateway migrate`",
                  file=sys.stderr)
            return 2
        # Misconfiguration must stop us before the first peek: otherwise every message would be committed as
        # rejected and dequeued, leaving only our archive of it.
        problem = None
        if get_party(engine, config.datahub_gln) is None:
            problem = f"Datahub's GLN {config.datahub_gln} is not a registered party (gateway parties add … --role DH)"
        elif not config.our_gln or config.our_gln not in own_glns(engine):
            problem = f"[datahub] our_gln {config.our_gln or '(unset)'} is not registered as one of our own GLNs"
        if problem:
            print(f"gateway datahub-pull: {problem}", file=sys.stderr)
            return 2
        with client:
            return _pull(args, config, engine, client, settings.max_message_bytes)
    finally:
        engine.dispose()


def _pull(args: argparse.Namespace, config: DatahubSettings, engine: Engine, client: DatahubClient,
          max_bytes: int) -> int:
    puller = DatahubPuller(
        engine, client, Receiver(engine, max_bytes=max_bytes),
        our_gln=config.our_gln, datahub_gln=config.datahub_gln, domains=config.domains,
        backoff_min=config.backoff_min, backoff_max=config.backoff_max,
        max_messages=config.max_messages_per_poll, hooks=_crash_hooks(args),
    )
    if args.once:
        puller.check_identity()
        result = puller.poll_once(args.max_messages)
        print(json.dumps(result.summary()))
        return 1 if result.errors else 0
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with settled_heap():
        pulled = puller.run_forever(stop, max_messages=args.max_messages)
    log.info("stopped after %d message(s)", pulled)
    return 0


def _crash_hooks(args: argparse.Namespace) -> PullHooks:
    def kill(why: str) -> None:
        log.error("%s: killing the process", why)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)

    hooks = PullHooks()
    if args.crash_after_commit:
        def after_landing(peeked: PeekedMessage, n: int) -> None:
            if n >= args.crash_after_commit:
                kill(f"--crash-after-commit {args.crash_after_commit}: landed, before dequeueing {peeked.ref}")
        hooks.after_landing = after_landing
    if args.crash_after_dequeue:
        def after_dequeue(peeked: PeekedMessage, n: int) -> None:
            if n >= args.crash_after_dequeue:
                kill(f"--crash-after-dequeue {args.crash_after_dequeue}: dequeued {peeked.ref}, not yet received")
        hooks.after_dequeue = after_dequeue
    if args.crash_while_storing:
        stored = 0

        def while_storing(session: Session, landed_ids: Sequence[int]) -> None:
            nonlocal stored
            stored += len(landed_ids)
            if stored >= args.crash_while_storing:
                kill(f"--crash-while-storing {args.crash_while_storing}: storing landed {list(landed_ids)}, "
                     "before the commit")
        hooks.while_storing = while_storing
    return hooks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.datahub_pull",
                                     description="pull messages from Datahub into the receive pipeline")
    parser.add_argument("--config", help="TOML configuration file (default: $GATEWAY_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true")
    configure_pull_parser(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return main_pull(args, load_settings(args.config))


if __name__ == "__main__":
    sys.exit(main())
