"""Outbox throughput against the bare statements it is made of, measured in the same run.

Outbox: enqueue (transactions of 100) → claim (batches of 50, leased, in order per key) → handle (one
transaction per delivery: inbox row + mark done), by 1 or 4 worker processes. Rows:

* one consumer, a handler in the delivery's transaction (the common case);
* two consumers of the topic (every message delivered twice, each consumer with its own state);
* one consumer as an external call (transaction 1 counts the call, a no-op call with the heartbeat thread
  running, transaction 2 records it only while the lease holds).

Baseline ("bare statements"): the same rows, one per message and consumer, INSERTed one statement each in
transactions of 100 into a plain table; workers compete for them as the outbox's do: one conditional
`UPDATE … WHERE id IN (SELECT … LIMIT 50 FOR UPDATE SKIP LOCKED) AND state = 'pending' RETURNING id` per batch,
then an UPDATE to done in one transaction per row (two transactions per row for the external-call row: mark
the attempt, then done). No pre-split by id.

SQLite runs with `synchronous=FULL` (the gateway's setting: an acknowledged commit survives a power cut) and,
for comparison, NORMAL; the last column compares the outbox under FULL with the same outbox under NORMAL.
Target: the outbox costs at most 3× the baseline.

    python -m bench.bench_outbox [--rows N] [--workers 1 4]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
from datetime import timedelta
from typing import Any

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, bindparam, insert, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bench.common import Timer, backends, fresh_database, print_table
from gateway.store.db import make_engine
from gateway.store.migrate import upgrade
from outbox import ExternalCall, HandlerRegistry, OutboxMessage, OutboxSettings, enqueue
from outbox.subscriptions import subscribe
from outbox.worker import Worker

bare_md = MetaData()
bare = Table(
    "bare_rows", bare_md,
    Column("id", Integer, primary_key=True),
    Column("consumer", String(100), nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("lease_owner", String(100), nullable=True),
    Index("ix_bare_rows_pending", "state", "id"),
)
PAYLOAD = {"accounting_point": "643007574000000017", "period": "2026-01", "values": 2976}
SHAPES = {  # name → (consumers, external call)
    "1 consumer": (1, False),
    "2 consumers": (2, False),
    "external call": (1, True),
}


def _registry(consumers: int, external: bool) -> HandlerRegistry:
    registry = HandlerRegistry()
    for n in range(consumers):
        if external:
            registry.register_external("bench", ExternalCall(
                prepare=lambda s, m: m.message_id, call=_no_call, record=lambda s, m, r: None,
                max_duration=timedelta(seconds=10),
            ), consumer=f"bench-{n}")
        else:
            registry.register("bench", lambda s, m: None, consumer=f"bench-{n}")
    return registry


def _no_call(request: str, message: OutboxMessage) -> str:
    return request


def _engine(url: str, synchronous: str) -> Engine:
    return make_engine(url, sqlite_synchronous=synchronous)


def _outbox_worker(url: str, synchronous: str, consumers: int, external: bool) -> None:
    engine = _engine(url, synchronous)
    Worker(engine, _registry(consumers, external), OutboxSettings(batch_size=50, lease=timedelta(minutes=5))).drain()
    engine.dispose()


_BARE_CLAIM = text(
    "UPDATE bare_rows SET state = 'processing', lease_owner = :me WHERE id IN ("
    "SELECT id FROM bare_rows WHERE state = 'pending' ORDER BY id LIMIT 50 {lock}) AND state = 'pending' "
    "RETURNING id"
)
_BARE_ATTEMPT = update(bare).where(bare.c.id == bindparam("row_id")).values(attempts=bare.c.attempts + 1)
_BARE_DONE = update(bare).where(bare.c.id == bindparam("row_id"), bare.c.lease_owner == bindparam("me")).values(
    state="done")


def _bare_worker(url: str, synchronous: str, two_transactions: bool) -> None:
    engine = _engine(url, synchronous)
    me = f"bare-{os.getpid()}"
    claim = text(_BARE_CLAIM.text.format(lock="" if engine.dialect.name == "sqlite" else "FOR UPDATE SKIP LOCKED"))
    while True:
        with Session(engine) as s, s.begin():
            ids = s.execute(claim, {"me": me}).scalars().all()
        if not ids:
            break
        for row_id in sorted(ids):
            if two_transactions:
                with Session(engine) as s, s.begin():
                    s.execute(_BARE_ATTEMPT, {"row_id": row_id})
            with Session(engine) as s, s.begin():
                s.execute(_BARE_DONE, {"row_id": row_id, "me": me})
    engine.dispose()


def _parallel(target: Any, args_list: list[tuple[object, ...]]) -> None:
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=target, args=a) for a in args_list]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"benchmark worker failed with {p.exitcode}")


def run_outbox(url: str, synchronous: str, rows: int, workers: int, consumers: int, external: bool) -> float:
    engine = _engine(url, synchronous)
    upgrade(engine)
    with engine.begin() as conn:
        for consumer in _registry(consumers, external).consumers:
            subscribe(conn, "bench", consumer)
    with Timer() as t:
        for start in range(0, rows, 100):
            with Session(engine) as s, s.begin():
                for _ in range(start, min(start + 100, rows)):
                    enqueue(s, "bench", PAYLOAD, key=None)
        engine.dispose()
        _parallel(_outbox_worker, [(url, synchronous, consumers, external)] * workers)
    return t.seconds


def run_bare(url: str, synchronous: str, rows: int, workers: int, consumers: int, external: bool) -> float:
    engine = _engine(url, synchronous)
    bare_md.create_all(engine)
    body = json.dumps(PAYLOAD)
    with Timer() as t:
        for start in range(0, rows, 100):
            with Session(engine) as s, s.begin():
                for _ in range(start, min(start + 100, rows)):
                    for n in range(consumers):
                        s.execute(insert(bare).values(consumer=f"bench-{n}", payload=body, state="pending",
                                                      attempts=0))
        engine.dispose()
        _parallel(_bare_worker, [(url, synchronous, external)] * workers)
    with engine.connect() as conn:
        left = conn.execute(select(bare.c.id).where(bare.c.state != "done")).first()
    if left is not None:
        raise RuntimeError("the bare workers left rows behind")
    engine.dispose()
    return t.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000, help="messages per run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--shape", choices=list(SHAPES), action="append", help="default: every shape")
    args = parser.parse_args()
    table = []
    full_outbox: dict[tuple[str, int], float] = {}
    modes = [("sqlite", "FULL"), ("sqlite", "NORMAL")] + [("postgresql", "-")] * ("postgresql" in backends())
    for backend, synchronous in modes:
        for shape in args.shape or list(SHAPES):
            consumers, external = SHAPES[shape]
            for workers in args.workers:
                with fresh_database(backend) as url:
                    base = run_bare(url, synchronous, args.rows, workers, consumers, external)
                with fresh_database(backend) as url:
                    box = run_outbox(url, synchronous, args.rows, workers, consumers, external)
                label = backend if backend == "postgresql" else f"sqlite {synchronous}"
                if synchronous == "FULL":
                    full_outbox[(shape, workers)] = box
                vs_normal = (f"{full_outbox[(shape, workers)] / box:.2f}×"
                             if synchronous == "NORMAL" and (shape, workers) in full_outbox else "")
                table.append([label, shape, str(workers), f"{args.rows / base:,.0f}", f"{args.rows / box:,.0f}",
                              f"{box / base:.2f}×", vs_normal])
    print(f"Outbox throughput, {args.rows} messages (enqueue + claim + handle + mark done per consumer), "
          "messages/s")
    print_table(["database", "consumers / handler", "workers", "bare statements", "outbox",
                 "outbox cost (target ≤ 3×)", "FULL / NORMAL time"], table)


if __name__ == "__main__":
    main()
