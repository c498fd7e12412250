"""Real worker processes: SIGKILL in the middle of handling, and four workers draining one table."""

from __future__ import annotations

import itertools
import random
import signal
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from outbox import DONE, enqueue
from outbox.schema import outbox_message
from tests.support.outbox_handlers import effect, effects_metadata
from tests.support.processes import start_worker

pytestmark = pytest.mark.slow


def _enqueue_many(engine: Engine, n: int) -> None:
    effects_metadata.create_all(engine)
    with Session(engine) as s, s.begin():
        for i in range(n):
            enqueue(s, "effect", {"i": i}, max_attempts=1000)


def _reader(engine: Engine) -> Session:
    # Observing must not take SQLite's write lock away from the workers it observes.
    return Session(engine.execution_options(sqlite_begin="DEFERRED"))


def _remaining(engine: Engine) -> int:
    with _reader(engine) as s:
        return int(s.execute(select(func.count()).where(outbox_message.c.state != DONE)).scalar_one())


def _effects(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        return dict(s.execute(select(effect.c.message_id, effect.c.applied)).all())  # type: ignore[arg-type]


def _lease_holders(engine: Engine) -> set[int]:
    with _reader(engine) as s:
        owners = s.execute(select(outbox_message.c.lease_owner).where(outbox_message.c.state == "processing")
                           .distinct()).scalars().all()
    return {int(owner.split(":")[1]) for owner in owners if owner}


def test_sigkilled_workers_lose_nothing_and_apply_each_message_once(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    n = 1500
    _enqueue_many(engine, n)
    args = ("--lease-seconds", "1", "--batch-size", "5", "--max-attempts", "1000")
    handlers = "tests.support.outbox_handlers:slow_registry"
    rng = random.Random(20261127)
    workers = [start_worker(database_url, handlers, *args, log=tmp_path / "w.log") for _ in range(3)]
    kills = 0
    deadline = time.monotonic() + 240
    try:
        while _remaining(engine) and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.005, 0.05))
            if kills >= 40:
                continue
            # Kill a worker that holds a lease right now, i.e. one in the middle of handling (worker ids carry
            # the pid), so the kill lands mid-transaction however slow the machine is.
            holding = _lease_holders(engine)
            candidates = [w for w in workers if w.pid in holding]
            if not candidates:
                continue
            victim = rng.choice(candidates)
            workers.remove(victim)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            kills += 1
            workers.append(start_worker(database_url, handlers, *args, log=tmp_path / "w.log"))
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=30)

    assert _remaining(engine) == 0, "every message was eventually handled"
    applied = _effects(engine)
    assert len(applied) == n
    assert set(applied.values()) == {1}, "no message took effect twice"
    assert kills >= 5, f"only {kills} kills happened before the queue drained"
    with Session(engine) as s:
        reclaimed = s.execute(select(func.count()).where(outbox_message.c.attempts > 1)).scalar_one()
    assert reclaimed > 0, f"{kills} kills mid-handling, yet no row was reclaimed after its lease"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_four_postgres_workers_drain_ten_thousand_rows_without_overlapping_claims(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    n = 10_000
    _enqueue_many(engine, n)
    log = tmp_path / "claims.tsv"
    handlers = "tests.support.outbox_handlers:fast_registry"
    workers = [
        start_worker(database_url, handlers, "--batch-size", "20", "--claim-log", str(log),
                     "--worker-id", f"w{i}", log=tmp_path / "w.log")
        for i in range(4)
    ]
    deadline = time.monotonic() + 300
    try:
        while _remaining(engine) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=30)

    assert _remaining(engine) == 0
    applied = _effects(engine)
    assert len(applied) == n and set(applied.values()) == {1}
    claims: dict[int, list[tuple[datetime, datetime, str]]] = defaultdict(list)
    for line in log.read_text().splitlines():
        row_id, worker, start, until = line.split("\t")
        claims[int(row_id)].append((datetime.fromisoformat(start), datetime.fromisoformat(until), worker))
    assert len(claims) == n
    for row_id, spans in claims.items():
        spans.sort()
        for (_, until, first), (start, _, second) in itertools.pairwise(spans):
            assert start >= until, f"row {row_id} claimed by {second} while {first} held its lease"
    assert len({w for spans in claims.values() for *_, w in spans}) == 4, "all four workers took part"
