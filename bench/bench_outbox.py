"""Outbox throughput against the bare statements it is made of, measured in the same run.

Outbox: enqueue (transactions of 100) → claim (batches of 50, leased) → handle (one transaction per message:
inbox row + mark done). Baseline: the same rows INSERTed one statement each, in transactions of 100, into a
plain table, SELECTed in batches of 50 and UPDATEd to done one transaction per row.
Target: the outbox costs at most 3× the baseline.

    python -m bench.bench_outbox [--rows N]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
from datetime import timedelta

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert, select, update
from sqlalchemy.orm import Session

from bench.common import Timer, backends, fresh_database, print_table
from gateway.store.db import make_engine
from gateway.store.migrate import upgrade
from outbox import HandlerRegistry, OutboxSettings, enqueue
from outbox.worker import Worker

bare_md = MetaData()
bare = Table(
    "bare_rows", bare_md,
    Column("id", Integer, primary_key=True),
    Column("topic", String(100), nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),
)
PAYLOAD = {"accounting_point": "643007574000000017", "period": "2026-01", "values": 2976}


def _registry() -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register("bench", lambda s, m: None)
    return registry


def _outbox_worker(url: str) -> None:
    engine = make_engine(url)
    Worker(engine, _registry(), OutboxSettings(batch_size=50, lease=timedelta(minutes=5))).drain()
    engine.dispose()


def _bare_worker(url: str, part: int, parts: int) -> None:
    engine = make_engine(url)
    while True:
        with Session(engine) as s:
            ids = s.execute(
                select(bare.c.id).where(bare.c.state == "pending", bare.c.id % parts == part).limit(50)
            ).scalars().all()
        if not ids:
            break
        for row_id in ids:
            with Session(engine) as s, s.begin():
                s.execute(update(bare).where(bare.c.id == row_id).values(state="done"))
    engine.dispose()


def _parallel(target: object, args_list: list[tuple[object, ...]]) -> None:
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=target, args=a) for a in args_list]  # type: ignore[arg-type]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"benchmark worker failed with {p.exitcode}")


def run_outbox(url: str, rows: int, workers: int) -> float:
    engine = make_engine(url)
    upgrade(engine)
    with Timer() as t:
        for start in range(0, rows, 100):
            with Session(engine) as s, s.begin():
                for _ in range(start, min(start + 100, rows)):
                    enqueue(s, "bench", PAYLOAD)
        engine.dispose()
        _parallel(_outbox_worker, [(url,)] * workers)
    return t.seconds


def run_bare(url: str, rows: int, workers: int) -> float:
    import json

    engine = make_engine(url)
    bare_md.create_all(engine)
    body = json.dumps(PAYLOAD)
    with Timer() as t:
        for start in range(0, rows, 100):
            with Session(engine) as s, s.begin():
                for _ in range(start, min(start + 100, rows)):
                    s.execute(insert(bare).values(topic="bench", payload=body, state="pending"))
        engine.dispose()
        _parallel(_bare_worker, [(url, i, workers) for i in range(workers)])
    return t.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    table = []
    for backend in backends():
        for workers in (1, 4):
            with fresh_database(backend) as url:
                base = run_bare(url, args.rows, workers)
            with fresh_database(backend) as url:
                box = run_outbox(url, args.rows, workers)
            table.append([backend, str(workers), f"{args.rows / base:,.0f}", f"{args.rows / box:,.0f}",
                          f"{box / base:.2f}×"])
    print(f"Outbox throughput, {args.rows} messages (enqueue + claim + handle + mark done), rows/s")
    print_table(["database", "workers", "bare statements", "outbox", "outbox cost (target ≤ 3×)"], table)


if __name__ == "__main__":
    main()
