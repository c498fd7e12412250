"""Real worker processes: SIGKILL in the middle of handling or of an external call, four workers draining one
table, and a writer process that knows nothing of the consumers."""

from __future__ import annotations

import itertools
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.events import CONSUMERS, METERING_RECEIVED
from outbox import DONE, PROCESSING, ManualClock, enqueue
from outbox.schema import outbox_delivery, outbox_message
from outbox.subscriptions import subscribe
from outbox.worker import Worker
from tests.support.outbox_handlers import (
    FAR_SIDE_HANGS,
    FAR_SIDE_URL,
    effect,
    effects_metadata,
    external_registry,
    far_side,
)
from tests.support.processes import ROOT, start_worker

pytestmark = pytest.mark.slow


def _enqueue_many(engine: Engine, n: int) -> None:
    effects_metadata.create_all(engine)
    with engine.begin() as conn:
        subscribe(conn, "effect", "test-effect")
    with Session(engine) as s, s.begin():
        for i in range(n):
            enqueue(s, "effect", {"i": i}, max_attempts=1000)


def _reader(engine: Engine) -> Session:
    # Observing must not take SQLite's write lock away from the workers it observes.
    return Session(engine.execution_options(sqlite_begin="DEFERRED"))


def _remaining(engine: Engine) -> int:
    with _reader(engine) as s:
        return int(s.execute(select(func.count()).where(outbox_delivery.c.state != DONE)).scalar_one())


def _effects(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        return dict(s.execute(select(effect.c.message_id, effect.c.applied)).all())  # type: ignore[arg-type]


def _lease_holders(engine: Engine) -> set[int]:
    with _reader(engine) as s:
        owners = s.execute(select(outbox_delivery.c.lease_owner).where(outbox_delivery.c.state == PROCESSING)
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
        reclaimed = s.execute(select(func.count()).where(outbox_delivery.c.attempts > 1)).scalar_one()
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


def test_a_caller_killed_during_its_external_call_leads_to_a_resend_of_the_same_message(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    effects_metadata.create_all(engine)
    with engine.begin() as conn:
        subscribe(conn, "call", "far-side")
    with Session(engine) as s, s.begin():
        mid = enqueue(s, "call", {})
    monkeypatch.setenv(FAR_SIDE_URL, database_url)
    monkeypatch.setenv(FAR_SIDE_HANGS, "1")  # the far side takes the message and never answers
    worker = start_worker(database_url, "tests.support.outbox_handlers:external_registry", "--lease-seconds", "30",
                          log=tmp_path / "w.log")
    try:
        deadline = time.monotonic() + 120
        while not _arrived(engine) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _arrived(engine) == {mid: (1, 1)}, "the call reached the far side"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    with Session(engine) as s:
        (state, calls, lease_until) = s.execute(select(outbox_delivery.c.state, outbox_delivery.c.calls,
                                                       outbox_delivery.c.lease_until)).one()
    assert (state, calls) == (PROCESSING, 1)

    monkeypatch.delenv(FAR_SIDE_HANGS)  # the far side answers again; the killed caller's lease runs out
    rescuer = Worker(engine, external_registry(), clock=ManualClock(lease_until + timedelta(seconds=1)))
    outcomes = rescuer.drain()

    assert [(o.message.message_id, o.result, o.message.calls) for o in outcomes] == [(mid, DONE, 2)]
    assert _arrived(engine) == {mid: (2, 2)}, "the same message id again, never a second message"
    assert _effects(engine) == {mid: 1}, "and its result recorded once"


def _arrived(engine: Engine) -> dict[str, tuple[int, int]]:
    with Session(engine.execution_options(sqlite_begin="DEFERRED")) as s:
        return {m: (c, n) for m, c, n in s.execute(select(far_side.c.message_id, far_side.c.calls,
                                                          far_side.c.last_call))}


_WRITER = """
import sys
from sqlalchemy.orm import Session
from outbox import enqueue
from outbox.engine import make_engine

engine = make_engine(sys.argv[1])
with Session(engine) as session, session.begin():
    print(enqueue(session, sys.argv[2], {"message_pk": 0, "sender": "a writer", "series": []}, key="k"))
assert not any(name.startswith("gateway") for name in sys.modules), "this writer knows nothing of the gateway"
"""


def test_a_writer_process_that_knows_no_consumer_still_creates_every_declared_delivery(
    engine: Engine, database_url: str
) -> None:
    written = subprocess.run([sys.executable, "-c", _WRITER, database_url, METERING_RECEIVED.name], cwd=ROOT,
                             capture_output=True, text=True, check=True, timeout=120)
    mid = written.stdout.strip()
    with Session(engine) as s:
        consumers = s.execute(select(outbox_delivery.c.consumer).join(
            outbox_message, outbox_message.c.id == outbox_delivery.c.message_pk
        ).where(outbox_message.c.message_id == mid)).scalars().all()
    declared = [c.name for c in CONSUMERS if c.topic == METERING_RECEIVED]
    assert declared and sorted(consumers) == sorted(declared)
