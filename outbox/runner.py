"""Run a worker as a process: `python -m outbox --url URL --handlers pkg.module:factory`.

`factory` is a callable returning a HandlerRegistry (or a registry object itself). Applications usually wrap
this (the gateway's `gateway worker` does); the generic form exists so any registry can be run and killed as
a real process, which is how the crash and concurrency tests exercise it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType

from sqlalchemy.engine import Engine

from outbox.core import OutboxMessage, OutboxSettings
from outbox.engine import make_engine
from outbox.registry import HandlerRegistry
from outbox.worker import Worker, default_worker_id


def load_registry(spec: str) -> HandlerRegistry:
    module_name, _, attr = spec.partition(":")
    target = getattr(importlib.import_module(module_name), attr or "registry")
    registry = target() if callable(target) else target
    if not isinstance(registry, HandlerRegistry):
        raise TypeError(f"{spec} did not give a HandlerRegistry")
    return registry


class ClaimLog:
    """Appends one line per claimed row: row id, worker, claimed-at and lease-until (ISO instants)."""

    def __init__(self, path: Path) -> None:
        self._fh = path.open("a", buffering=1, encoding="utf-8")

    def __call__(self, worker_id: str, claimed_at: datetime, messages: Sequence[OutboxMessage]) -> None:
        self._fh.write(
            "".join(
                f"{m.id}\t{worker_id}\t{claimed_at.isoformat()}\t{m.lease_until.isoformat()}\n"
                for m in messages
                if m.lease_until is not None
            )
        )


def run_worker(worker: Worker) -> int:
    def _stop(_signum: int, _frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.run_forever()
    return 0


def main(argv: Sequence[str] | None = None, engine: Engine | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m outbox", description=__doc__)
    parser.add_argument("--url", required=engine is None, help="SQLAlchemy database URL")
    parser.add_argument("--handlers", required=True, help="module:factory giving a HandlerRegistry")
    parser.add_argument("--lease-seconds", type=float, default=60.0)
    parser.add_argument("--heartbeat-seconds", type=float, default=None, help="default: a quarter of the lease")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--max-attempts", type=int, default=8)
    parser.add_argument("--worker-id", default=None)
    parser.add_argument("--claim-log", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    settings = OutboxSettings(
        lease=timedelta(seconds=args.lease_seconds), batch_size=args.batch_size, max_attempts=args.max_attempts,
        idle_sleep=timedelta(seconds=0.05), idle_sleep_max=timedelta(seconds=0.5),
        heartbeat=None if args.heartbeat_seconds is None else timedelta(seconds=args.heartbeat_seconds),
    )
    worker = Worker(
        engine or make_engine(args.url),
        load_registry(args.handlers),
        settings,
        worker_id=args.worker_id or default_worker_id(),
        claim_observer=ClaimLog(args.claim_log) if args.claim_log else None,
    )
    return run_worker(worker)
