"""The Datahub pull worker against the real simulator over HTTP (zeep client), on SQLite and PostgreSQL:
peek → land → dequeue → pipeline, in order, across queues, through duplicates, faults and poison."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col
from tenacity import wait_none

from gateway.bootstrap import build_registry
from gateway.config import Settings
from gateway.datahub_pull import DatahubPuller, configure_pull_parser, main_pull
from gateway.datahub_settings import DatahubConfigError, DatahubSettings, datahub_settings
from gateway.datahub_sim import DatahubSimulator, FaultInjector, parse_fault_rule
from gateway.queries.timeline import inbound_timeline
from gateway.receive import ACCEPTED, DUPLICATE, PARKED, REJECTED, SCHEMA, Receiver
from gateway.soap.datahub_client import DatahubClient
from gateway.store.tables import (
    AccountingPointRow,
    LandedMessage,
    MessageRecord,
    MeteringSeriesRow,
    ParkedMessage,
    PullLogRow,
    RawMessage,
    SalesAgreementRow,
)
from gateway.xml.hardened import parse_xml
from mappings import samples
from outbox.worker import Worker
from tests.support.pipeline import fixture, register_parties
from tests.support.simulator_thread import RunningSimulator, serve_simulator

SUPPLIER = samples.OUR_SUPPLIER_GLN
DATAHUB = samples.DATAHUB_GLN
SPRING = date(2026, 3, 29)  # 92 quarter hours
AUTUMN = date(2026, 10, 25)  # 100 quarter hours
START = datetime(2026, 3, 1, tzinfo=UTC)

Serve = Callable[..., RunningSimulator]
MakePuller = Callable[..., DatahubPuller]


class LenientSimulator(DatahubSimulator):
    """Queues whatever it is given, valid or not: a Datahub that hands out a broken document (poison)."""

    def _parse_valid(self, payload: bytes, *, source: str = "payload") -> etree._Element:
        return parse_xml(payload, max_bytes=self.max_bytes).getroot()


@pytest.fixture
def serve() -> Iterator[Serve]:
    with ExitStack() as stack:

        def start(
            *faults: str, simulator: type[DatahubSimulator] = DatahubSimulator, **options: Any
        ) -> RunningSimulator:
            rules = [parse_fault_rule(spec) for spec in faults]
            sim = simulator(faults=FaultInjector(rules, seed=3), **options)
            return stack.enter_context(serve_simulator(sim))

        yield start


@pytest.fixture
def make_puller(engine: Engine) -> Iterator[MakePuller]:
    register_parties(engine)
    clients: list[DatahubClient] = []

    def make(run: RunningSimulator, *, domains: tuple[str, ...] = (), retries: int = 3, timeout: float = 5,
             **options: Any) -> DatahubPuller:
        client = DatahubClient(run.url, headers={"X-Party-GLN": SUPPLIER}, retries=retries, timeout=timeout,
                               retry_wait=wait_none())
        clients.append(client)
        return DatahubPuller(engine, client, Receiver(engine), our_gln=SUPPLIER, datahub_gln=DATAHUB,
                             domains=domains, **options)

    yield make
    for client in clients:
        client.close()


def count(engine: Engine, table: type) -> int:
    with Session(engine) as s:
        return int(s.execute(select(func.count()).select_from(table)).scalar_one())


def e58(n: int) -> bytes:
    return samples.e58_message(samples.gsrn(n), START)


def e66(points: list[int], day: date = SPRING, seed: int = 0) -> bytes:
    return samples.e66_message(DATAHUB, SUPPLIER, [samples.gsrn(n) for n in points], day, seed=seed)


def drain_outbox(engine: Engine) -> list[str]:
    return [o.result for o in Worker(engine, build_registry(Settings(), engine)).drain()]


# -- in order, to the end -----------------------------------------------------------------------------------
def test_a_scenario_folder_is_ingested_in_order_and_the_queue_ends_empty(
    serve: Serve, make_puller: MakePuller, engine: Engine, tmp_path: Path
) -> None:
    scenario = tmp_path / "scenario"
    scenario.mkdir()
    files = {
        "01-e58-1.xml": e58(1), "02-e58-2.xml": e58(2), "03-e58-3.xml": e58(3),
        "04-f01.xml": samples.f01_message(START),
        "05-f04.xml": samples.f04_message(samples.gsrn(1), START),
        "06-e66-spring.xml": e66([1, 2, 3]),
        "07-e66-spring-correction.xml": e66([1], seed=1),
        "08-e66-autumn.xml": e66([2, 3], AUTUMN),
    }
    for name, body in files.items():
        (scenario / name).write_bytes(body)
    run = serve()
    run.sim.load_scenario(scenario)
    puller = make_puller(run)

    result = puller.poll_once()

    assert [p.document_type for p in result.pulled] == ["E58", "E58", "E58", "F01", "F04", "E66", "E66", "E66"]
    assert [p.result for p in result.pulled] == [ACCEPTED] * 8 and all(p.dequeued for p in result.pulled)
    assert result.errors == 0
    assert run.sim.queue(SUPPLIER) == []
    assert puller.poll_once().idle
    with Session(engine) as s:
        versions = s.execute(select(col(MeteringSeriesRow.accounting_point), col(MeteringSeriesRow.positions),
                                    col(MeteringSeriesRow.version)).order_by(col(MeteringSeriesRow.id))).all()
    point = samples.gsrn
    assert [tuple(v) for v in versions] == [
        (point(1), 92, 1), (point(2), 92, 1), (point(3), 92, 1),  # DST spring day
        (point(1), 92, 2),  # the correction is a second version of the same period
        (point(2), 100, 1), (point(3), 100, 1),  # DST autumn day
    ]
    counts = (count(engine, AccountingPointRow), count(engine, SalesAgreementRow), count(engine, MessageRecord))
    assert counts == (3, 1, 8)


def test_metering_data_that_overtakes_its_master_data_is_parked_and_released(
    serve: Serve, make_puller: MakePuller, engine: Engine
) -> None:
    run = serve()
    run.sim.enqueue(SUPPLIER, e58(1))  # BB01, master data
    run.sim.enqueue(SUPPLIER, e66([1]))  # BB02, metering data: its own queue
    puller = make_puller(run, domains=("BB02", "BB01"))

    result = puller.poll_once()

    assert [(p.queue, p.document_type, p.result) for p in result.pulled] == [
        ("BB02", "E66", PARKED), ("BB01", "E58", ACCEPTED)]
    assert all(p.dequeued for p in result.pulled), "a parked message is committed, so it is dequeued"
    assert count(engine, MeteringSeriesRow) == 0
    with Session(engine) as s:
        parked = s.execute(select(ParkedMessage)).scalar_one()
    assert parked.waiting_for == [samples.gsrn(1)] and parked.released_at is None

    assert "done" in drain_outbox(engine)

    with Session(engine) as s:
        parked = s.execute(select(ParkedMessage)).scalar_one()
        record = s.get(MessageRecord, parked.message_pk)
    assert parked.released_at is not None and record is not None and record.status == ACCEPTED
    assert count(engine, MeteringSeriesRow) == 1
    assert run.sim.queue(SUPPLIER) == []


# -- duplicates and faults ----------------------------------------------------------------------------------
def test_the_same_message_delivered_twice_has_one_effect(serve: Serve, make_puller: MakePuller, engine: Engine) -> None:
    run = serve("peekMessage:duplicate:calls=1,3")
    run.sim.enqueue(SUPPLIER, e58(1))
    run.sim.enqueue(SUPPLIER, e66([1]))
    result = make_puller(run).poll_once()

    assert [(p.document_type, p.result) for p in result.pulled] == [
        ("E58", ACCEPTED), ("E58", DUPLICATE), ("E66", ACCEPTED), ("E66", DUPLICATE)]
    assert run.sim.faults.fired("peekMessage", "duplicate") == 2
    counts = (count(engine, AccountingPointRow), count(engine, MeteringSeriesRow), count(engine, MessageRecord))
    assert counts == (1, 1, 2)
    assert run.sim.queue(SUPPLIER) == []


def test_a_failed_dequeue_goes_on_and_the_message_is_dequeued_when_it_is_handed_out_again(
    serve: Serve, make_puller: MakePuller, engine: Engine
) -> None:
    run = serve("dequeueMessage:dequeue_fault:calls=1")
    run.sim.enqueue(SUPPLIER, e58(1))
    run.sim.enqueue(SUPPLIER, e66([1]))

    result = make_puller(run).poll_once()

    assert [(p.document_type, p.result, p.dequeued) for p in result.pulled] == [
        ("E58", ACCEPTED, True), ("E66", ACCEPTED, True)]
    assert result.dequeue_failures == 1 and run.sim.queue(SUPPLIER) == []
    counts = (count(engine, AccountingPointRow), count(engine, MeteringSeriesRow), count(engine, MessageRecord))
    assert counts == (1, 1, 2) and count(engine, RawMessage) == 2, "landed once, though peeked twice"
    # The support log's timeline of the first message: landed, its dequeue refused, landed no more, dequeued.
    with Session(engine) as s:
        first = s.execute(select(MessageRecord).where(col(MessageRecord.document_type) == "E58")).scalar_one()
        steps = [step.kind for step in inbound_timeline(s, first)]
        logged = s.execute(select(col(PullLogRow.event)).order_by(col(PullLogRow.id))).scalars().all()
    assert [k for k in steps if k in ("landed", "dequeue_failed", "dequeued")] == [
        "landed", "dequeue_failed", "dequeued"]
    assert logged == ["landed", "dequeue_failed", "dequeued", "landed", "dequeued"]


def test_a_message_whose_dequeue_keeps_failing_is_left_for_the_next_pass_and_answered_as_a_duplicate(
    serve: Serve, make_puller: MakePuller, engine: Engine
) -> None:
    run = serve("dequeueMessage:dequeue_fault:calls=1,2")
    run.sim.enqueue(SUPPLIER, e58(1))
    run.sim.enqueue(SUPPLIER, e66([1]))
    puller = make_puller(run)

    first = puller.poll_once()
    assert [(p.result, p.dequeued) for p in first.pulled] == [(ACCEPTED, False)]
    assert first.dequeue_failures == 2
    assert len(run.sim.queue(SUPPLIER)) == 2, "the message stays in Datahub's queue"

    second = puller.poll_once()
    assert [(p.document_type, p.result, p.dequeued) for p in second.pulled] == [
        ("E58", DUPLICATE, True), ("E66", ACCEPTED, True)]
    counts = (count(engine, AccountingPointRow), count(engine, MeteringSeriesRow), count(engine, MessageRecord))
    assert counts == (1, 1, 2) and count(engine, RawMessage) == 2, "a duplicate is not archived again"
    assert count(engine, LandedMessage) == 0 and run.sim.queue(SUPPLIER) == []


def test_5xx_answers_and_timeouts_are_retried_and_nothing_is_lost(
    serve: Serve, make_puller: MakePuller, engine: Engine
) -> None:
    run = serve("peekMessage:http_5xx:calls=1,2", "peekMessage:timeout:calls=5", "dequeueMessage:http_5xx:calls=2",
                "dequeueMessage:timeout:calls=3", timeout_delay=6.0)
    for n in (1, 2, 3):
        run.sim.enqueue(SUPPLIER, e58(n))
    run.sim.enqueue(SUPPLIER, e66([1, 2, 3]))
    # The client gives up after 2 s, the simulator holds a timed-out answer for 6: a busy machine answers the
    # other calls well within the 2 s.
    result = make_puller(run, timeout=2.0).poll_once()

    assert [p.result for p in result.pulled] == [ACCEPTED] * 4 and result.errors == 0
    assert run.sim.faults.fired("peekMessage", "http_5xx") == 2 and run.sim.faults.fired("peekMessage", "timeout") == 1
    assert run.sim.faults.fired("dequeueMessage", "timeout") == 1
    assert (count(engine, AccountingPointRow), count(engine, MeteringSeriesRow)) == (3, 3)
    assert run.sim.queue(SUPPLIER) == []


def test_when_retries_run_out_the_pass_ends_and_the_next_one_continues(
    serve: Serve, make_puller: MakePuller, engine: Engine
) -> None:
    run = serve("peekMessage:http_5xx:calls=1,2", "dequeueMessage:http_5xx:calls=1,2")
    run.sim.enqueue(SUPPLIER, e58(1))
    puller = make_puller(run, retries=2)

    failed_peek = puller.poll_once()
    assert failed_peek.idle and len(failed_peek.transport_errors) == 1
    failed_dequeue = puller.poll_once()
    assert [(p.result, p.dequeued) for p in failed_dequeue.pulled] == [(ACCEPTED, True)]
    assert failed_dequeue.dequeue_failures == 1, "retried once more when the next peek handed it out again"
    assert puller.poll_once().idle
    assert count(engine, AccountingPointRow) == 1 and run.sim.queue(SUPPLIER) == []


def test_a_poison_message_is_recorded_as_rejected_dequeued_and_does_not_block_the_queue(
    serve: Serve, make_puller: MakePuller, engine: Engine
) -> None:
    run = serve(simulator=LenientSimulator)
    poison = fixture("invalid-schema-e58-no-grid-area.xml")
    run.sim.enqueue(SUPPLIER, poison)
    run.sim.enqueue(SUPPLIER, fixture("invalid-event-e58-bad-gsrn-check-digit.xml").replace(b"e58-bad", b"e58-bad-2"))
    run.sim.enqueue(SUPPLIER, e58(1))
    result = make_puller(run).poll_once()

    assert [(p.result, p.dequeued) for p in result.pulled] == [(REJECTED, True), (REJECTED, True), (ACCEPTED, True)]
    with Session(engine) as s:
        records = s.execute(select(MessageRecord).order_by(col(MessageRecord.id))).scalars().all()
    assert [(r.message_id, r.status, r.level) for r in records][:2] == [
        ("e58-bad", REJECTED, SCHEMA), ("e58-bad-2", REJECTED, "event")]
    assert records[0].errors and all(e["line"] for e in records[0].errors), "schema errors keep line numbers"
    assert count(engine, AccountingPointRow) == 1
    assert run.sim.queue(SUPPLIER) == []


# -- the loop -----------------------------------------------------------------------------------------------
def test_the_loop_survives_failures_backs_off_while_idle_and_stops_on_request(
    serve: Serve, make_puller: MakePuller, engine: Engine
) -> None:
    run = serve("peekMessage:http_5xx:calls=1,2,3")
    puller = make_puller(run, retries=1, backoff_min=0.01, backoff_max=0.08)
    stop = threading.Event()
    pulled: list[int] = []
    loop = threading.Thread(target=lambda: pulled.append(puller.run_forever(stop)))
    loop.start()
    try:
        run.sim.enqueue(SUPPLIER, e58(1))
        run.sim.enqueue(SUPPLIER, e66([1]))
        deadline = time.monotonic() + 60  # generous: only a machine stalled for a minute fails this
        while run.sim.queue(SUPPLIER) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert run.sim.queue(SUPPLIER) == []
        # Bounded backoff: once idle, at most one empty peek per 0.08 s (± jitter), after a ramp from 0.01 s up
        # to it. Eight idle peeks are waited for; they cannot have come faster than the backoff allows (a slow
        # machine only makes them come slower).
        started, peeks_before = time.monotonic(), run.sim.faults.calls("peekMessage")
        while run.sim.faults.calls("peekMessage") - peeks_before < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        idle_peeks = run.sim.faults.calls("peekMessage") - peeks_before
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        loop.join(timeout=60)
    assert not loop.is_alive() and pulled == [2]
    assert idle_peeks >= 8 and elapsed >= (idle_peeks - 4) * 0.08 * 0.9
    assert count(engine, MeteringSeriesRow) == 1


def test_the_running_worker_receives_in_a_process_of_its_own_started_again_when_it_dies(
    serve: Serve, make_puller: MakePuller, engine: Engine
) -> None:
    run = serve()
    puller = make_puller(run, backoff_min=0.01, backoff_max=0.05)
    receiving = puller.receiving_process()
    assert receiving.wait_ready()
    first = receiving.pid
    stop = threading.Event()
    pulled: list[int] = []
    loop = threading.Thread(target=lambda: pulled.append(puller.run_forever(stop, receiving=receiving)))
    loop.start()

    def until(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 60  # generous: only a machine that stalls for a minute fails this
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert condition()

    try:
        run.sim.enqueue(SUPPLIER, e58(1))
        until(lambda: count(engine, AccountingPointRow) == 1)
        assert receiving.pid == first
        os.kill(first or 0, signal.SIGKILL)
        run.sim.enqueue(SUPPLIER, e66([1]))
        until(lambda: count(engine, MeteringSeriesRow) == 1)
        assert receiving.pid not in (first, None), "received by a process started again"
    finally:
        stop.set()
        loop.join(timeout=60)
    assert pulled == [2] and count(engine, LandedMessage) == 0 and run.sim.queue(SUPPLIER) == []


def test_max_messages_limits_a_pass(serve: Serve, make_puller: MakePuller, engine: Engine) -> None:
    run = serve()
    for n in (1, 2, 3):
        run.sim.enqueue(SUPPLIER, e58(n))
    puller = make_puller(run)
    assert len(puller.poll_once(2).pulled) == 2
    assert len(run.sim.queue(SUPPLIER)) == 1


# -- command line and configuration --------------------------------------------------------------------------
def test_the_command_pulls_once_and_prints_a_summary(
    serve: Serve, engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    register_parties(engine)
    run = serve()
    run.sim.enqueue(SUPPLIER, e58(1))
    run.sim.enqueue(SUPPLIER, e66([1]))
    parser = argparse.ArgumentParser()
    configure_pull_parser(parser)
    settings = Settings(database_url=database_url, raw={"datahub": {"our_gln": SUPPLIER, "domains": ["BB01", "BB02"]}})

    assert main_pull(parser.parse_args(["--once", "--endpoint", run.url]), settings) == 0

    summary = json.loads(capsys.readouterr().out)
    assert summary == {"pulled": 2, "dequeued": 2, "results": {"accepted": 2}, "recovered": 0,
                       "transport_errors": 0, "pipeline_errors": 0, "dequeue_failures": 0}
    assert count(engine, MeteringSeriesRow) == 1
    assert main_pull(parser.parse_args(["--once"]), Settings(database_url=database_url)) == 2, "no endpoint"
    not_ours = Settings(database_url=database_url, raw={"datahub": {"our_gln": samples.OTHER_SUPPLIER_GLN}})
    run.sim.enqueue(SUPPLIER, e66([1], seed=5))
    assert main_pull(parser.parse_args(["--once", "--endpoint", run.url]), not_ours) == 2
    assert "not registered as one of our own GLNs" in capsys.readouterr().err
    assert len(run.sim.queue(SUPPLIER)) == 1, "nothing was pulled, so nothing was dequeued"


def test_once_against_an_unreachable_endpoint_exits_non_zero(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    register_parties(engine)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    parser = argparse.ArgumentParser()
    configure_pull_parser(parser)
    settings = Settings(database_url=database_url, raw={"datahub": {
        "our_gln": SUPPLIER, "retries": 1, "timeout_seconds": 2, "domains": ["BB01", "BB02"]}})
    assert main_pull(parser.parse_args(["--once", "--endpoint", f"http://127.0.0.1:{port}/soap/b2b"]), settings) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["pulled"] == 0 and summary["transport_errors"] == 2, "each queue tried once"


def test_the_datahub_section_is_read_with_defaults_and_checked() -> None:
    config = datahub_settings(Settings(raw={"datahub": {
        "endpoint": "https://dh.example/soap", "our_gln": SUPPLIER, "token": "t0k", "domains": "BB01, BB02",
        "timeout_seconds": 12, "retries": 5, "poll_backoff_min_seconds": 0.5, "poll_backoff_max_seconds": 30,
    }}), environ={})
    assert (config.endpoint, config.domains, config.timeout, config.retries) == (
        "https://dh.example/soap", ("BB01", "BB02"), 12.0, 5)
    assert config.http_headers() == {"Authorization": "Bearer t0k"}, "a token identifies us: no sandbox header"
    assert DatahubSettings(our_gln=SUPPLIER).http_headers() == {"X-Party-GLN": SUPPLIER}
    overridden = datahub_settings(Settings(raw={"datahub": {"endpoint": "a"}}),
                                  environ={"GATEWAY_DATAHUB_ENDPOINT": "b"})
    assert overridden.endpoint == "b"
    assert datahub_settings(Settings(), environ={}).endpoint is None
    with pytest.raises(DatahubConfigError):
        datahub_settings(Settings(raw={"datahub": {"client_cert": "/x.pem"}}), environ={})
    with pytest.raises(DatahubConfigError):
        DatahubSettings(backoff_min=5, backoff_max=1)
