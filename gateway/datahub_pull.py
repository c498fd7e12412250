"""The Datahub pull worker: peek → receive pipeline (commits) → dequeue, queue by queue.

Reliability model:

* A message is dequeued only after `Receiver.receive` returned, i.e. after its raw bytes, registry rows, domain
  change and outbox rows were committed. A crash between the commit and the dequeue leaves the message in
  Datahub's queue; the next peek delivers it again, the pipeline answers `duplicate` (same sender, same message
  id, same bytes) without changing anything, and it is dequeued then.
* A message the pipeline rejects (schema, process or event level) is committed as rejected (archive and
  registry keep it for the support log) and dequeued: a poison message never blocks its queue. A message that
  fails only because of ordering across queues (an E66 before its E58) is committed as parked and dequeued;
  the pipeline releases it when the missing data arrives.
* When the pipeline itself fails (database down, a bug), nothing was committed, so the message is left in the
  queue and the worker backs off. Transport errors are retried inside the client (tenacity); what still fails
  makes the worker back off and continue. Nothing ends the loop but the stop event.

`poll_once` takes one message per queue in turn until every queue is empty (or a limit is reached), so a
busy metering queue does not starve master data.

Run it with `python -m gateway.datahub_pull [--config FILE] [--once] [--endpoint URL] [--max-messages N]`
(the same arguments as `gateway datahub-pull`). The hidden flag `--crash-after-commit N` exists for the crash
test only: it SIGKILLs the process right after the N-th pipeline commit, before that message's dequeue.
"""

from __future__ import annotations

import argparse
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

from gateway.config import Settings, load_settings
from gateway.datahub_settings import (
    DEFAULT_DATAHUB_GLN,
    DatahubConfigError,
    DatahubSettings,
    datahub_settings,
    make_client,
)
from gateway.parties import get_party, own_glns
from gateway.receive import (
    CHANNEL_DATAHUB,
    DUPLICATE,
    PARKED,
    REJECTED,
    ReceiveOutcome,
    Receiver,
)
from gateway.runtime import settled_heap
from gateway.soap.datahub_client import DatahubClient, DatahubFault, DatahubTransportError, PeekedMessage
from gateway.store.db import make_engine
from gateway.store.migrate import current_revision, head_revision

log = logging.getLogger("gateway.datahub_pull")

AfterCommit = Callable[[PeekedMessage, ReceiveOutcome], None]


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
class PollResult:
    pulled: list[Pulled] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    pipeline_errors: list[str] = field(default_factory=list)
    dequeue_failures: int = 0

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
        after_commit: AfterCommit | None = None,
    ) -> None:
        """``domains``: the queues (BB01…BB06) to poll, in this order; empty: the whole queue at once.
        ``datahub_gln`` is the physical sender of everything pulled (the pipeline authenticates it).
        ``after_commit`` runs between the pipeline's commit and the dequeue (the crash test's hook)."""
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
        self.after_commit = after_commit
        self._rng = random.Random()

    def check_identity(self) -> None:
        """Warn early when the configured GLN is not one of ours: the pipeline would reject everything."""
        if self.our_gln and self.our_gln not in own_glns(self.engine):
            log.warning("%s is not registered as one of our own GLNs: pulled messages addressed to it will be "
                        "rejected (gateway parties add %s --own …)", self.our_gln, self.our_gln)

    # -- one pass ------------------------------------------------------------------------------------------
    def poll_once(self, max_messages: int | None = None) -> PollResult:
        """Take one message per queue in turn until all queues are empty or failing, or the limit is reached."""
        limit = max_messages if max_messages is not None else self.max_messages
        result = PollResult()
        active = list(self.queues)
        while active and len(result.pulled) < limit:
            for queue in list(active):
                if len(result.pulled) >= limit:
                    break
                if not self._take_one(queue, result):
                    active.remove(queue)
        return result

    def _take_one(self, queue: str | None, result: PollResult) -> bool:
        """Peek, receive, dequeue one message; False when this queue is done for this pass."""
        where = queue or "all domains"
        try:
            peeked = self.client.peek([queue] if queue else ())
        except (DatahubTransportError, DatahubFault) as exc:
            log.warning("peek (%s) failed: %s", where, exc)
            result.transport_errors.append(f"peek {where}: {exc}")
            return False
        if peeked is None:
            return False
        try:
            outcome = self.receiver.receive(peeked.payload, authenticated_gln=self.datahub_gln,
                                            channel=CHANNEL_DATAHUB, allow_parking=True)
        except Exception as exc:  # nothing was committed: leave the message in Datahub's queue
            log.exception("message %s (%s) could not be processed; it stays in the queue", peeked.ref, where)
            result.pipeline_errors.append(f"{peeked.ref}: {type(exc).__name__}: {exc}")
            return False
        self._log_outcome(peeked, outcome, where)
        if self.after_commit is not None:
            self.after_commit(peeked, outcome)
        dequeued = self._dequeue(peeked, result)
        result.pulled.append(Pulled(queue, peeked.ref, outcome.message_id, outcome.document_type,
                                    outcome.result, _text(outcome.reason_code), dequeued))
        # A failed dequeue would hand us the same message again at once: leave the queue for this pass.
        return dequeued

    def _dequeue(self, peeked: PeekedMessage, result: PollResult) -> bool:
        try:
            self.client.dequeue(peeked.ref)
        except (DatahubTransportError, DatahubFault) as exc:
            log.warning("dequeue of %s failed (%s); it is committed and will be answered as a duplicate when "
                        "it is read again", peeked.ref, exc)
            result.dequeue_failures += 1
            return False
        return True

    @staticmethod
    def _log_outcome(peeked: PeekedMessage, outcome: ReceiveOutcome, where: str) -> None:
        if outcome.result == REJECTED:
            log.warning("message %s (%s %s from %s) rejected at %s level (%s): %s; dequeued as poison",
                        peeked.ref, outcome.document_type, outcome.message_id, where, outcome.level,
                        _text(outcome.reason_code), "; ".join(f"{e.code} {e.text}" for e in outcome.errors[:5]))
        elif outcome.result == PARKED:
            log.info("message %s (%s %s) parked until its master data arrives: %s", peeked.ref,
                     outcome.document_type, outcome.message_id, "; ".join(e.text for e in outcome.errors[:5]))
        elif outcome.result == DUPLICATE:
            log.info("message %s (%s %s) was already received; dequeueing it", peeked.ref, outcome.document_type,
                     outcome.message_id)
        else:
            log.debug("message %s (%s %s): %s", peeked.ref, outcome.document_type, outcome.message_id,
                      outcome.result)

    # -- the loop ------------------------------------------------------------------------------------------
    def run_forever(self, stop: threading.Event, *, max_messages: int | None = None) -> int:
        """Poll until ``stop`` is set (or ``max_messages`` were pulled); returns how many were pulled.
        Empty queues and failures back off exponentially between ``backoff_min`` and ``backoff_max``."""
        self.check_identity()
        delay = self.backoff_min
        total = 0
        while not stop.is_set():
            remaining = None if max_messages is None else max_messages - total
            if remaining is not None and remaining <= 0:
                break
            try:
                result = self.poll_once(remaining)
            except Exception:  # the loop must outlive anything a single pass does
                log.exception("poll failed; backing off %.1f s", delay)
                result = None
            if result is not None:
                total += len(result.pulled)
                if result.pulled and not result.errors:
                    delay = self.backoff_min
                    continue
            stop.wait(delay * self._rng.uniform(0.9, 1.1))
            delay = min(delay * 2, self.backoff_max)
        return total


def _text(code: object) -> str | None:
    """Reason codes may be str enums; logs and JSON want their plain value."""
    if code is None:
        return None
    value = getattr(code, "value", code)
    return str(value)


# -- command line -------------------------------------------------------------------------------------------
def configure_pull_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="one pass over the queues, then exit")
    parser.add_argument("--endpoint", help="Datahub endpoint URL (default: [datahub] endpoint)")
    parser.add_argument("--max-messages", type=int, default=None, metavar="N",
                        help="stop after N messages (with --once: at most N in the pass)")
    # Test-only: SIGKILL right after the N-th commit, before its dequeue (the crash test). Off by default.
    parser.add_argument("--crash-after-commit", type=int, default=None, help=argparse.SUPPRESS)


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
        max_messages=config.max_messages_per_poll,
        after_commit=_crash_after(args.crash_after_commit) if args.crash_after_commit else None,
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


def _crash_after(commits: int) -> AfterCommit:
    seen = 0

    def crash(peeked: PeekedMessage, outcome: ReceiveOutcome) -> None:
        nonlocal seen
        seen += 1
        if seen >= commits:
            log.error("--crash-after-commit %d: killing the process before dequeueing %s", commits, peeked.ref)
            logging.shutdown()
            os.kill(os.getpid(), signal.SIGKILL)

    return crash


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
