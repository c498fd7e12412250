"""Messages to Datahub through the outbox and sendMessage, their ACKs back through the pull worker, and resends
under new ids; against the real simulator over HTTP, on SQLite and PostgreSQL. The send is an external call:
a slow Datahub, a worker killed during the call and a lease lost during the call each send the message once."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
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
from gateway.datahub_pull import DatahubPuller
from gateway.datahub_settings import datahub_settings
from gateway.datahub_sim import DatahubSimulator, FaultInjector, parse_fault_rule
from gateway.domain.acknowledgement import EventReason
from gateway.domain.message import DatahubMessage, MessageHeader
from gateway.outbound import (
    TOPIC_SEND,
    OutboundDocumentError,
    call_budget,
    register_datahub_send,
    resend,
    send_to_datahub,
)
from gateway.receive import ACCEPTED, Receiver
from gateway.soap.datahub_client import DatahubClient
from gateway.store.tables import MessageRecord, OutboundMessage
from gateway.xml.hardened import parse_xml
from mappings import f04, samples
from outbox import HandlerRegistry, ManualClock, OutboxSettings
from outbox.schema import outbox_delivery, outbox_message
from outbox.types import utcnow
from outbox.worker import Worker
from tests.support.pipeline import register_parties
from tests.support.simulator_thread import RunningSimulator, serve_simulator

SUPPLIER = samples.OUR_SUPPLIER_GLN
DATAHUB = samples.DATAHUB_GLN
START = datetime(2026, 4, 1, tzinfo=UTC)
BAD_PRODUCT = "RETIRED-PRODUCT"


def f04_to_datahub(product_code: str = "SPOT-2026", sender: str = SUPPLIER) -> DatahubMessage[Any]:
    """A supplier switch we announce to Datahub (F04, DH-311-1) under a fresh message id."""
    return samples.f04_document(samples.gsrn(1), START, sender=sender, recipient=DATAHUB, product_code=product_code,
                                message_id=str(uuid.uuid4()))


def reject_retired_products(root: etree._Element, header: MessageHeader) -> Sequence[EventReason] | None:
    codes = [el.text for el in root.iter() if isinstance(el.tag, str) and etree.QName(el).localname == "ProductCode"]
    return [EventReason("EC.AGR.042", f"product {BAD_PRODUCT} is not sold any more")] if BAD_PRODUCT in codes else None


@pytest.fixture
def run() -> Iterator[RunningSimulator]:
    with serve_simulator(DatahubSimulator(reject_rule=reject_retired_products)) as running:
        yield running


@pytest.fixture
def parties(engine: Engine) -> Engine:
    register_parties(engine)
    return engine


def settings_for(run: RunningSimulator) -> Settings:
    return Settings(raw={"datahub": {"endpoint": run.url, "our_gln": SUPPLIER}})


def queue(engine: Engine, document: DatahubMessage[Any]) -> str:
    with Session(engine) as session, session.begin():
        return send_to_datahub(session, document)


def outbound(engine: Engine, message_id: str) -> OutboundMessage:
    with Session(engine) as s:
        return s.execute(select(OutboundMessage).where(col(OutboundMessage.message_id) == message_id)).scalar_one()


def pull_acks(engine: Engine, run: RunningSimulator) -> list[str]:
    with DatahubClient(run.url, headers={"X-Party-GLN": SUPPLIER}, retry_wait=wait_none()) as client:
        puller = DatahubPuller(engine, client, Receiver(engine), our_gln=SUPPLIER, domains=("BB06",))
        return [p.result for p in puller.poll_once().pulled]


def test_an_f04_goes_out_through_the_outbox_and_its_ba01_marks_it_accepted(
    run: RunningSimulator, parties: Engine
) -> None:
    engine = parties
    document = f04_to_datahub()
    message_id = queue(engine, document)
    row = outbound(engine, message_id)
    assert (row.status, row.document_type, row.recipient_gln, row.accounting_point) == (
        "queued", "F04", DATAHUB, samples.gsrn(1))
    assert b"schemaLocation" not in row.body
    assert run.sim.received == [], "nothing leaves before the outbox worker runs"

    outcomes = Worker(engine, build_registry(settings_for(run), engine)).drain()

    assert [(o.message.topic, o.result) for o in outcomes] == [(TOPIC_SEND, "done")]
    [received] = run.sim.received
    assert received.header.message_id == message_id and received.document_type == "F04"
    assert f04.parse(parse_xml(received.payload, max_bytes=10**7).getroot()) == document
    row = outbound(engine, message_id)
    assert (row.status, row.datahub_reference) == ("sent", received.ref)

    assert pull_acks(engine, run) == [ACCEPTED]
    row = outbound(engine, message_id)
    assert (row.status, row.ack_reason_code, row.ack_errors) == ("accepted", "BA01", None)


def test_a_negative_ack_is_recorded_and_the_corrected_resend_uses_a_new_id(
    run: RunningSimulator, parties: Engine
) -> None:
    engine = parties
    worker = Worker(engine, build_registry(settings_for(run), engine))
    message_id = queue(engine, f04_to_datahub(BAD_PRODUCT))
    worker.drain()
    assert pull_acks(engine, run) == [ACCEPTED], "the ACK itself is a valid message"
    row = outbound(engine, message_id)
    assert (row.status, row.ack_reason_code) == ("rejected", "BA02")
    assert row.ack_errors == [{"code": "EC.AGR.042", "text": f"product {BAD_PRODUCT} is not sold any more"}]

    def current_product(message: DatahubMessage[Any]) -> DatahubMessage[Any]:
        (event,) = message.transactions
        agreement = dataclasses.replace(event.agreement, product_codes=("SPOT-2026",))
        return dataclasses.replace(message, transactions=(dataclasses.replace(event, agreement=agreement),))

    new_id = resend(engine, message_id, correct=current_product)

    assert new_id != message_id
    copy = outbound(engine, new_id)
    assert (copy.status, copy.resend_of) == ("queued", message_id)
    worker.drain()
    assert [r.header.message_id for r in run.sim.received] == [message_id, new_id]
    assert pull_acks(engine, run) == [ACCEPTED]
    assert (outbound(engine, new_id).status, outbound(engine, message_id).status) == ("accepted", "rejected")
    with pytest.raises(OutboundDocumentError, match="accepted"):
        resend(engine, new_id)


def test_a_plain_resend_copies_the_document_under_new_ids(run: RunningSimulator, parties: Engine) -> None:
    engine = parties
    worker = Worker(engine, build_registry(settings_for(run), engine))
    first = queue(engine, f04_to_datahub(BAD_PRODUCT))
    worker.drain()
    pull_acks(engine, run)
    second = resend(engine, first)
    third_try = outbound(engine, second)
    original = outbound(engine, first)
    strip = {"Identification", "Creation"}

    def content(body: bytes) -> list[tuple[str, str | None]]:
        root = parse_xml(body, max_bytes=10**7).getroot()
        return [(etree.QName(el).localname, el.text) for el in root.iter()
                if isinstance(el.tag, str) and not (etree.QName(el).localname in strip
                                                     and etree.QName(el.getparent()).localname == "Header")]

    assert content(third_try.body) == content(original.body) and third_try.body != original.body
    with pytest.raises(LookupError):
        resend(engine, "no-such-message")


def test_a_soap_fault_marks_the_message_failed_and_is_not_retried(run: RunningSimulator, parties: Engine) -> None:
    engine = parties
    # We may not send on another party's behalf: Datahub answers with a Fault, a decision, not a glitch.
    message_id = queue(engine, f04_to_datahub(sender=samples.OTHER_SUPPLIER_GLN))
    outcomes = Worker(engine, build_registry(settings_for(run), engine)).drain()

    assert [o.result for o in outcomes] == ["done"]
    row = outbound(engine, message_id)
    assert row.status == "failed" and row.ack_errors is not None
    assert row.ack_errors[0]["code"] == "SIM.SENDER_NOT_AUTHORISED"
    assert run.sim.received == []
    assert resend(engine, message_id) != message_id, "a failed message can be resent"


def test_transport_errors_are_retried_by_the_outbox_and_the_message_is_sent_once(parties: Engine) -> None:
    engine = parties
    faults = FaultInjector([parse_fault_rule("sendMessage:http_5xx:calls=1,2,3")])
    with serve_simulator(DatahubSimulator(faults=faults)) as running:
        client = DatahubClient(running.url, headers={"X-Party-GLN": SUPPLIER}, retries=2, retry_wait=wait_none())
        registry = HandlerRegistry()
        assert register_datahub_send(registry, Settings(), client_factory=lambda: client)
        message_id = queue(engine, f04_to_datahub())
        worker = Worker(engine, registry, OutboxSettings(backoff_base=timedelta(0), jitter=0))

        outcomes = worker.drain()

        client.close()
        assert [o.result for o in outcomes] == ["retry", "done"], "2 + 2 attempts: the fourth call succeeds"
        assert "DatahubTransportError" in (outcomes[0].error or "")
        assert len(running.sim.received) == 1
        assert outbound(engine, message_id).status == "sent"


def test_a_send_whose_result_was_lost_is_not_sent_twice(parties: Engine) -> None:
    engine = parties
    with serve_simulator(DatahubSimulator()) as running:
        client = DatahubClient(running.url, headers={"X-Party-GLN": SUPPLIER}, retry_wait=wait_none())
        message_id = queue(engine, f04_to_datahub())
        # The first attempt reached Datahub, then the worker died before its commit.
        client.send(outbound(engine, message_id).body)
        registry = HandlerRegistry()
        register_datahub_send(registry, Settings(), client_factory=lambda: client)
        with engine.begin() as conn:  # the delivery shows the call that was made
            conn.execute(outbox_delivery.update().values(calls=1))

        assert [o.result for o in Worker(engine, registry).drain()] == ["done"]

        client.close()
        assert len(running.sim.received) == 1
        assert outbound(engine, message_id).status == "sent"


def test_invalid_documents_and_reused_ids_are_refused_before_anything_is_stored(parties: Engine) -> None:
    engine = parties
    with pytest.raises(OutboundDocumentError, match="ProductCode") as invalid:
        queue(engine, f04_to_datahub("x" * 51))
    assert invalid.value.issues and invalid.value.issues[0].line
    document = f04_to_datahub()
    queue(engine, document)
    with pytest.raises(OutboundDocumentError, match="already used"):
        queue(engine, document)
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(OutboundMessage)).scalar_one() == 1
        assert s.execute(select(func.count()).select_from(outbox_message)).scalar_one() == 1
        assert s.execute(select(func.count()).select_from(MessageRecord)).scalar_one() == 0


def test_without_an_endpoint_nothing_handles_datahub_send(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="gateway.outbound"):
        registry = build_registry(Settings(), engine)
    assert TOPIC_SEND not in registry.topics
    assert "no [datahub] endpoint" in caplog.text
    assert TOPIC_SEND in build_registry(Settings(raw={"datahub": {"endpoint": "http://127.0.0.1:9/"}}), engine).topics



def test_a_resent_metering_message_gets_new_transaction_ids_too(parties: Engine) -> None:
    engine = parties
    document = samples.e66_document(samples.OUR_DSO_GLN, DATAHUB, [samples.gsrn(1), samples.gsrn(2)],
                                    datetime(2026, 3, 29).date(), message_id=str(uuid.uuid4()))
    first = queue(engine, document)
    with engine.begin() as conn:  # as the pipeline records a BA02 for it
        conn.execute(OutboundMessage.__table__.update().values(status="rejected"))  # type: ignore[attr-defined]

    second = resend(engine, first)

    def transaction_ids(message_id: str) -> list[str]:
        root = parse_xml(outbound(engine, message_id).body, max_bytes=10**7).getroot()
        return [el.text or "" for el in root.iter() if isinstance(el.tag, str)
                and etree.QName(el).localname == "UniqueIdentification"]

    old, new = transaction_ids(first), transaction_ids(second)
    assert len(old) == len(new) == 2 and not set(old) & set(new)
    assert outbound(engine, second).accounting_point == samples.gsrn(1)


# -- the send as an external call ------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0  # the longest a test waits for another thread or process; never reached unless something is broken


def _slow_simulator(calls: str = "1") -> DatahubSimulator:
    """Datahub receives the message at once but holds its answer (the `slow` fault) until released."""
    return DatahubSimulator(faults=FaultInjector([parse_fault_rule(f"sendMessage:slow:calls={calls}")]),
                            slow_delay=WAIT)


def _send_registry(url: str) -> tuple[HandlerRegistry, Callable[[], None]]:
    local = threading.local()  # one client per thread, as in production
    clients: list[DatahubClient] = []

    def client() -> DatahubClient:
        if not hasattr(local, "client"):
            local.client = DatahubClient(url, headers={"X-Party-GLN": SUPPLIER}, timeout=WAIT + 30, retries=1,
                                         retry_wait=wait_none())
            clients.append(local.client)
        return local.client  # type: ignore[no-any-return]

    def close() -> None:
        for each in clients:
            each.close()

    registry = HandlerRegistry()
    register_datahub_send(registry, Settings(), client_factory=client, max_call_duration=timedelta(seconds=WAIT + 40))
    return registry, close


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def _delivery(engine: Engine) -> dict[str, Any]:
    with Session(engine.execution_options(sqlite_begin="DEFERRED")) as s:
        return dict(s.execute(select(outbox_delivery)).one()._mapping)


def test_a_datahub_answering_after_the_lease_would_have_expired_gets_the_message_once(parties: Engine) -> None:
    engine = parties
    with serve_simulator(_slow_simulator()) as running:
        registry, close = _send_registry(running.url)
        clock = ManualClock(utcnow() + timedelta(minutes=1))
        settings = OutboxSettings(lease=timedelta(minutes=2), heartbeat=timedelta(seconds=0.02))
        message_id = queue(engine, f04_to_datahub())
        sender = Worker(engine, registry, settings, worker_id="sender", clock=clock)
        other = Worker(engine, registry, settings, worker_id="other", clock=clock)
        outcomes: list[Any] = []
        thread = threading.Thread(target=lambda: outcomes.extend(sender.drain()))
        thread.start()
        claimed_at = clock.now()
        _wait_for(lambda: len(running.sim.received) == 1, "Datahub to receive the message")
        for _ in range(4):  # three minutes of Datahub's silence, past the first lease's end
            clock.advance(timedelta(seconds=45))
            _wait_for(lambda: _delivery(engine)["lease_until"] >= clock.now() + timedelta(seconds=119), "a heartbeat")
            assert other.drain() == [], "the heartbeat keeps the delivery with the sender"
        assert clock.now() - claimed_at == settings.lease + timedelta(minutes=1)
        assert outbound(engine, message_id).status == "queued", "nothing recorded while the answer is out"

        running.sim.release_slow_answers()
        thread.join(WAIT)
        close()
        assert [o.result for o in outcomes] == ["done"]
        [received] = running.sim.received
        assert running.sim.faults.calls("sendMessage") == 1, "sent once"
        row = outbound(engine, message_id)
        assert (row.status, row.datahub_reference) == ("sent", received.ref)


def test_a_worker_killed_during_the_send_leads_to_a_resend_of_the_same_message_id(
    parties: Engine, database_url: str, tmp_path: Path
) -> None:
    engine = parties
    with serve_simulator(_slow_simulator()) as running:
        message_id = queue(engine, f04_to_datahub())
        config = tmp_path / "gateway.toml"
        config.write_text(f'[datahub]\nendpoint = "{running.url}"\nour_gln = "{SUPPLIER}"\n'
                          "retries = 1\ntimeout_seconds = 90\n")
        env = {**os.environ, "GATEWAY_DATABASE_URL": database_url, "GATEWAY_CONFIG": str(config),
               "PYTHONPATH": str(ROOT)}
        env.pop("GATEWAY_DATAHUB_ENDPOINT", None)
        with (tmp_path / "worker.log").open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main(sys.argv[1:]))",
                 "worker", "--topic", TOPIC_SEND], cwd=ROOT, env=env, stdout=log, stderr=log)
            try:
                _wait_for(lambda: len(running.sim.received) == 1, "the worker's sendMessage to arrive")
            finally:
                worker.send_signal(signal.SIGKILL)  # during the call: Datahub has the message, we have no answer
                worker.wait(WAIT)
        delivery = _delivery(engine)
        assert (delivery["state"], delivery["calls"]) == ("processing", 1)
        assert outbound(engine, message_id).status == "queued"

        registry, close = _send_registry(running.url)  # another worker, once the killed one's lease has run out
        rescuer = Worker(engine, registry, clock=ManualClock(delivery["lease_until"] + timedelta(seconds=1)))
        outcomes = rescuer.drain()
        close()

        assert [(o.result, o.message.calls) for o in outcomes] == [("done", 2)]
        assert running.sim.faults.calls("sendMessage") == 2, "sent again…"
        assert [r.header.message_id for r in running.sim.received] == [message_id], "…with the same id: one message"
        assert outbound(engine, message_id).status == "sent"


def test_a_sender_that_lost_its_lease_during_the_call_does_not_record_the_answer(parties: Engine) -> None:
    engine = parties
    with serve_simulator(_slow_simulator()) as running:
        registry, close = _send_registry(running.url)
        clock = ManualClock(utcnow() + timedelta(minutes=1))
        # The loser's heartbeat never gets through (a network partition): its lease runs out during the call.
        partitioned = OutboxSettings(lease=timedelta(hours=1), heartbeat=timedelta(minutes=59))
        message_id = queue(engine, f04_to_datahub())
        loser = Worker(engine, registry, partitioned, worker_id="loser", clock=clock)
        winner = Worker(engine, registry, partitioned, worker_id="winner", clock=clock)
        lost: list[Any] = []
        thread = threading.Thread(target=lambda: lost.extend(loser.drain()))
        thread.start()
        _wait_for(lambda: len(running.sim.received) == 1, "Datahub to receive the message")

        clock.advance(timedelta(hours=1))
        won = winner.drain()  # sends the same id again: Datahub says duplicate, so it was sent

        assert [(o.result, o.message.calls) for o in won] == [("done", 2)]
        assert (outbound(engine, message_id).status, outbound(engine, message_id).datahub_reference) == ("sent", None)
        running.sim.release_slow_answers()
        thread.join(WAIT)
        close()
        assert [o.result for o in lost] == ["lease_lost"]
        row = outbound(engine, message_id)
        assert (row.status, row.datahub_reference) == ("sent", None), "the loser's answer is not recorded"
        assert [r.header.message_id for r in running.sim.received] == [message_id]


def test_a_worker_refuses_to_serve_datahub_send_when_a_call_can_outlast_the_lease(engine: Engine) -> None:
    slow = Settings(raw={"datahub": {"endpoint": "http://127.0.0.1:9/", "timeout_seconds": 30, "retries": 3}})
    assert call_budget(datahub_settings(slow)) == timedelta(seconds=100)  # 3 × 30 s and two waits of up to 5 s
    with pytest.raises(ValueError, match="outlast"):
        Worker(engine, build_registry(slow, engine), OutboxSettings(lease=timedelta(seconds=60)))
    Worker(engine, build_registry(slow, engine), OutboxSettings(lease=timedelta(seconds=120)))
    Worker(engine, build_registry(slow, engine), OutboxSettings(lease=timedelta(seconds=60)),
           topics=["metering.received"]), "a worker that does not send is not concerned"
