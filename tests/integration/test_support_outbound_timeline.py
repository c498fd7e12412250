"""The datahub.send call writes its outcome on the message's timeline (the support log), once, with Datahub's
reference or its refusal, in the transaction that records the answer; against the real simulator over HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.bootstrap import build_registry
from gateway.config import Settings
from gateway.datahub_sim import DatahubSimulator
from gateway.outbound import send_to_datahub
from gateway.queries.detail import message_detail
from gateway.queries.messages import MessageRef
from gateway.store.tables import OutboundMessage
from mappings import samples
from outbox.worker import Worker
from tests.support.pipeline import register_parties
from tests.support.simulator_thread import serve_simulator


def _send(engine: Engine, url: str, sender: str) -> tuple[OutboundMessage, list[dict[str, object]]]:
    document = samples.f04_document(samples.gsrn(1), datetime(2026, 4, 1, tzinfo=UTC), sender=sender,
                                    recipient=samples.DATAHUB_GLN, product_code="SPOT-2026",
                                    message_id=str(uuid.uuid4()))
    with Session(engine) as s, s.begin():
        message_id = send_to_datahub(s, document)
    settings = Settings(raw={"datahub": {"endpoint": url, "our_gln": samples.OUR_SUPPLIER_GLN}})
    Worker(engine, build_registry(settings, engine)).drain()
    with Session(engine) as s:
        row = s.execute(select(OutboundMessage).where(col(OutboundMessage.message_id) == message_id)).scalar_one()
        assert row.id is not None
        detail = message_detail(s, MessageRef("out", row.id))
    assert detail is not None
    return row, detail["timeline"]


def test_a_sent_message_shows_one_recorded_send_with_its_reference_and_a_refused_one_the_fault(
        engine: Engine) -> None:
    register_parties(engine)
    with serve_simulator(DatahubSimulator()) as running:
        sent, timeline = _send(engine, running.url, samples.OUR_SUPPLIER_GLN)
        assert sent.status == "sent"
        assert [(step["kind"], step["recorded"]) for step in timeline] == [("queued", False), ("sent", True)]
        assert timeline[1]["detail"]["datahub_reference"] == sent.datahub_reference is not None
        assert timeline[1]["detail"]["calls"] == 1

        refused, timeline = _send(engine, running.url, samples.OTHER_SUPPLIER_GLN)
        assert refused.status == "failed"
        assert [(step["kind"], step["recorded"]) for step in timeline] == [("queued", False), ("refused", True)]
        assert timeline[1]["detail"]["fault"] == "SIM.SENDER_NOT_AUTHORISED"
