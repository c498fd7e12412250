"""The Datahub pull worker against its floor: the protocol itself, measured in the same run.

Datahub hands a queue out one message at a time and a message may be dequeued only once it is durable, so the
floor is a bare loop against the same simulator with the same client that peeks, stores the raw bytes with one
durable commit (one INSERT into a table of its own) and dequeues — nothing else. The pull worker
(`DatahubPuller.run_forever`) lands each message the same way (one INSERT, one commit), dequeues, and receives the
landed messages through the pipeline (parse, XSD, mapping, checks, archive, registries, metering rows, outbox
rows) in group commits on a second thread; it is timed until every message is pulled *and* received. A third
column is parse + XSD validation alone of the same payloads (`gateway.xml.schemas.parse_and_validate`), the
baseline of `bench.bench_ingest`.

Per backend (SQLite, and PostgreSQL when GATEWAY_BENCH_POSTGRES_URL or GATEWAY_TEST_POSTGRES_URL is set): a fresh
migrated database with the parties and E58 master data for every accounting point (not timed); the simulator runs
in a process of its own (as Datahub does), loaded before each pass with single-series E66 messages for us (new
message ids and a new day each pass, so the worker never meets a duplicate). Each round measures the floor, the
worker and the floor again, on new messages; the worker's ratio is against the mean of the two floor passes (this
machine's speed drifts); the table shows the median round and lists every round's ratio.

Target (issue 10, item 6): the pull worker ≥ 50 % of the floor's message rate.

    python -m bench.bench_pull [--messages N] [--rounds N] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, MetaData, Table, insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tenacity import wait_none

from bench.common import Timer, backends, fresh_database, print_table
from gateway.apply import apply_transactions
from gateway.datahub_pull import DatahubPuller
from gateway.parties import add_party
from gateway.receive import Receiver
from gateway.runtime import settled_heap
from gateway.soap.datahub_client import DatahubClient
from gateway.store.db import make_engine
from gateway.store.migrate import upgrade
from gateway.xml.schemas import default_registry, parse_and_validate
from mappings import samples

TARGET = 0.50
US = samples.OUR_SUPPLIER_GLN
DATAHUB = samples.DATAHUB_GLN
FIRST_DAY = date(2026, 2, 1)
MAX_BYTES = 50 * 1024 * 1024

_floor_metadata = MetaData()
# The floor's own table: an id and the bytes, nothing else.
FLOOR_TABLE = Table("bench_pull_floor", _floor_metadata,
                    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
                    Column("body", LargeBinary, nullable=False))


# -- the simulator, in a process of its own -----------------------------------------------------------------
def _serve(messages: list[bytes], pipe: Connection) -> None:
    from gateway.datahub_sim import DatahubSimulator
    from gateway.datahub_sim.background import serve_simulator

    sim = DatahubSimulator()
    for data in messages:
        sim.enqueue(US, data)
    with serve_simulator(sim) as running:
        pipe.send(running.url)
        pipe.recv()  # until told to stop
        pipe.send(len(sim.queue(US)))


@dataclass
class Simulator:
    process: mp.process.BaseProcess
    pipe: Connection
    url: str

    def stop(self) -> int:
        """End the simulator; how many messages were left in our queue."""
        self.pipe.send("stop")
        left = int(self.pipe.recv())
        self.process.join(timeout=30)
        return left


def start_simulator(messages: list[bytes]) -> Simulator:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(messages, child), daemon=True)
    process.start()
    return Simulator(process, parent, str(parent.recv()))


def client(url: str) -> DatahubClient:
    return DatahubClient(url, headers={"X-Party-GLN": US}, retries=3, timeout=30, retry_wait=wait_none())


# -- the passes -----------------------------------------------------------------------------------------------
def floor(engine: Engine, url: str, expected: int) -> float:
    """Seconds for the bare loop: peek → one INSERT + COMMIT of the raw bytes → dequeue, until the queue is empty."""
    done = 0
    with client(url) as dh, Timer() as t:
        while (peeked := dh.peek()) is not None:
            with engine.begin() as connection:
                connection.execute(insert(FLOOR_TABLE), {"body": peeked.payload})
            dh.dequeue(peeked.ref)
            done += 1
    if done != expected:
        raise AssertionError(f"the floor pulled {done} messages, {expected} were queued")
    return t.seconds


def worker(engine: Engine, url: str, expected: int) -> float:
    """Seconds for the pull worker to pull every message and receive it (`run_forever` returns once the landed
    messages are received)."""
    receiver = Receiver(engine, max_bytes=MAX_BYTES)
    try:
        with client(url) as dh:
            puller = DatahubPuller(engine, dh, receiver, our_gln=US, datahub_gln=DATAHUB, backoff_min=0.01,
                                   backoff_max=0.05)
            receiving = puller.receiving_process()
            if not receiving.wait_ready():  # steady state: measured from a warm receiving process
                raise AssertionError("the receiving process did not start")
            with settled_heap(), Timer() as t:
                pulled = puller.run_forever(threading.Event(), max_messages=expected, receiving=receiving)
            left = puller.landing.waiting()
    finally:
        receiver.close()
    if pulled != expected or left:
        raise AssertionError(f"the worker pulled {pulled} of {expected} messages, {left} left unreceived")
    return t.seconds


def parse_validate(payloads: Sequence[bytes]) -> float:
    with Timer() as t:
        for data in payloads:
            _, issues = parse_and_validate(data, MAX_BYTES)
            if issues:
                raise AssertionError(f"benchmark input is not schema-valid: {issues[0]}")
    return t.seconds


def check_all_accepted(engine: Engine, expected: int) -> None:
    from sqlalchemy import func, select

    from gateway.store.tables import MessageRecord

    with Session(engine) as session:
        accepted = session.execute(select(func.count()).select_from(MessageRecord).where(
            MessageRecord.status == "accepted", MessageRecord.document_type == "E66")).scalar_one()
    if accepted != expected:
        raise AssertionError(f"{accepted} E66 messages accepted, {expected} expected")


def prepare(url: str, points: Sequence[str]) -> Engine:
    engine = make_engine(url)
    upgrade(engine)
    _floor_metadata.create_all(engine)  # the floor's table (benchmark only)
    add_party(engine, DATAHUB, roles=["DH"], name="Fingrid Datahub")
    add_party(engine, US, roles=["DDQ"], name="Group retail", own=True)
    with Session(engine) as session, session.begin():
        for point in points:
            apply_transactions(session, samples.e58_document(point, datetime(2026, 1, 1, tzinfo=UTC)), [0],
                               message_pk=0)
    return engine


@dataclass(frozen=True)
class Round:
    floor_seconds: float  # the mean of the passes before and after the worker's
    worker_seconds: float
    validate_seconds: float

    @property
    def ratio(self) -> float:
        return self.floor_seconds / self.worker_seconds


def one_round(engine: Engine, points: Sequence[str], n: int, day: date) -> Round:
    def messages(on: date, seed: int) -> list[bytes]:
        return list(samples.e66_messages(DATAHUB, US, points[:n], on, n_series_per_message=1, seed=seed))

    floors = []
    for k in (0, 1):
        sim = start_simulator(messages(day, 10 + k))
        try:
            with settled_heap():
                floors.append(floor(engine, sim.url, n))
        finally:
            sim.stop()
        if k == 0:
            payloads = messages(day + timedelta(days=1), 1)
            sim = start_simulator(payloads)
            try:
                worker_seconds = worker(engine, sim.url, n)
            finally:
                left = sim.stop()
            if left:
                raise AssertionError(f"{left} messages were left in the simulator's queue")
    return Round(sum(floors) / 2, worker_seconds, parse_validate(payloads))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000, help="single-series messages per pass")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the table shows the median")
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"],
                        help="only these backends (default: all available)")
    args = parser.parse_args(argv)
    points = [samples.gsrn(n) for n in range(1, args.messages + 1)]
    default_registry().preload()
    rows = []
    for backend in args.backend or backends():
        with fresh_database(backend) as url:
            print(f"{backend}: loading master data for {len(points)} accounting points (not timed)…", flush=True)
            engine = prepare(url, points)
            rounds = []
            for r in range(max(1, args.rounds)):
                rounds.append(one_round(engine, points, args.messages, FIRST_DAY + timedelta(days=2 * r)))
                print(f"  round {r + 1}: worker / floor {rounds[-1].ratio:.0%}", flush=True)
            check_all_accepted(engine, args.messages * len(rounds))
            engine.dispose()
        ratios = [x.ratio for x in rounds]
        median = sorted(rounds, key=lambda x: x.ratio)[len(rounds) // 2]
        n = args.messages
        rows.append([
            backend, f"{n:,}", f"{n / median.validate_seconds:,.0f}", f"{n / median.floor_seconds:,.0f}",
            f"{n / median.worker_seconds:,.0f}",
            f"{median.ratio:.0%}" + (" ✓" if median.ratio >= TARGET else ""),
            f"{median.validate_seconds / median.worker_seconds:.1%}",
            " ".join(f"{x:.0%}" for x in ratios),
        ])
    print()
    print_table(["backend", "messages per pass", "parse + validate msg/s", "floor msg/s", "pull worker msg/s",
                 f"worker / floor (≥ {TARGET:.0%})", "worker / parse + validate", "every round's worker / floor"],
                rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
