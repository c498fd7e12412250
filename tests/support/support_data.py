"""A store with a little of everything support staff look at, built through the real receive pipeline.

One accounting point (`POINT`) has master data, a spot agreement for a consumer with a personal identity code,
customer data, quarter-hour metering for March 2026 (a correction on 10.3.), spot prices for the month and a
recorded rating; there are refused messages (schema and event level), a parked one, an outbound F04 whose send
died (a dead letter), and users of every role.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.access.users import add_user
from gateway.config import PROJECT_ROOT
from gateway.demo import write_spot_prices
from gateway.outbound import send_to_datahub
from gateway.queries.timeline import DEQUEUED, record_message_event
from gateway.rating.catalogues import load_catalogue_file
from gateway.rating.prices import import_price_file
from gateway.rating.service import rate_and_record
from gateway.receive import CHANNEL_DATAHUB, CHANNEL_SOAP, Receiver
from gateway.store.tables import MessageRecord
from mappings import samples
from outbox.schema import outbox_delivery, outbox_message
from tests.support.pipeline import fixture, register_parties

POINT = samples.gsrn(1)
OTHER_POINT = samples.gsrn(2)
UNKNOWN_POINT = samples.gsrn(77)
MONTH, NEXT_MONTH = date(2026, 3, 1), date(2026, 4, 1)
AGREEMENT_ID = "agreement-support-1"
IDENTITY_CODE = "131052-308T"
ROLES = ("support", "billing-admin", "api-client")


@dataclass
class Scenario:
    tokens: dict[str, str] = field(default_factory=dict)  # role → bearer token
    ids: dict[str, str] = field(default_factory=dict)  # name → message log id (in-N, out-N, …)
    rating_id: int = 0
    dead_letter_id: int = 0


def agreement_message(product_code: str, message_id: str) -> bytes:
    return samples.f04_message(POINT, datetime(2025, 6, 1, tzinfo=UTC), product_code=product_code,
                               agreement_id=AGREEMENT_ID, message_id=message_id)


def populate(engine: Engine, work: Path, *, days: int = 31, rate: bool = True) -> Scenario:
    scenario = Scenario()
    register_parties(engine)
    load_catalogue_file(engine, PROJECT_ROOT / "catalogue" / "demo.toml")
    import_price_file(engine, write_spot_prices(work / "spot-2026-03.csv"))
    receiver = Receiver(engine, max_bytes=50 * 1024 * 1024)
    dh = samples.DATAHUB_GLN

    def pulled(name: str, data: bytes) -> int:
        outcome = receiver.receive(data, authenticated_gln=dh, channel=CHANNEL_DATAHUB, allow_parking=True)
        assert outcome.message_pk is not None, outcome
        scenario.ids[name] = f"in-{outcome.message_pk}"
        return outcome.message_pk

    pulled("e58", samples.e58_message(POINT, datetime(2025, 1, 1, tzinfo=UTC)))
    pulled("e58-other", samples.e58_message(OTHER_POINT, datetime(2025, 1, 1, tzinfo=UTC)))
    pulled("f04", agreement_message("EM-SPOT", "f04-support-spot"))
    pulled("f01", samples.f01_message(datetime(2025, 6, 1, tzinfo=UTC)))
    for i in range(days):
        day = MONTH + timedelta(days=i)
        pk = pulled(f"e66-{day}", samples.e66_message(dh, samples.OUR_SUPPLIER_GLN, [POINT], day,
                                                     message_id=f"e66-support-{day}"))
        with Session(engine) as s, s.begin():
            record_message_event(s, pk, DEQUEUED, datetime.now(UTC), {"reference": f"ref-{day}"})
    if days >= 10:
        pulled("e66-correction", samples.e66_message(dh, samples.OUR_SUPPLIER_GLN, [POINT], date(2026, 3, 10), seed=5,
                                                     message_id="e66-support-correction"))
    pulled("parked", samples.e66_message(dh, samples.OUR_SUPPLIER_GLN, [UNKNOWN_POINT], MONTH,
                                         message_id="e66-support-parked"))
    # Our own endpoint: a DSO's schema-invalid message (a Fault) and an event-level rejection (an ACK).
    for name, file in (("schema-invalid", "invalid-schema-e66-negative-qty.xml"),
                       ("event-invalid", "invalid-event-e66-seq-gap.xml")):
        data = fixture(file).replace(b"e66-winter-0001", f"e66-support-{name}".encode())
        outcome = receiver.receive(data, authenticated_gln=samples.OUR_DSO_GLN, channel=CHANNEL_SOAP)
        assert outcome.message_pk is not None, outcome
        scenario.ids[name] = f"in-{outcome.message_pk}"
    pulled("f01-invalid", fixture("invalid-event-f01-bad-personal-identity-code.xml"))
    receiver.close()

    if rate and days == 31:
        _, recorded = rate_and_record(engine, POINT, MONTH, NEXT_MONTH, cause="test")
        assert recorded is not None and recorded.id is not None
        scenario.rating_id = recorded.id

    with Session(engine) as s, s.begin():
        sent = send_to_datahub(s, samples.f04_document(
            OTHER_POINT, datetime(2026, 4, 15, tzinfo=UTC), sender=samples.OUR_SUPPLIER_GLN,
            recipient=samples.DATAHUB_GLN, product_code="EM-SPOT", message_id="f04-support-outbound"))
        c, d = outbox_message.c, outbox_delivery.c
        # The send failed for good: a dead letter, as the outbox leaves it after its last attempt.
        send = select(c.id).where(c.topic == "datahub.send").scalar_subquery()
        dead = s.execute(
            update(outbox_delivery).where(d.message_pk == send).values(
                state="dead", attempts=8, last_error="Traceback …\nConnectionError: Datahub unreachable")
            .returning(d.id)).scalar_one()
        scenario.dead_letter_id = int(dead)
        from gateway.store.tables import OutboundMessage

        out_pk = s.execute(select(col(OutboundMessage.id)).where(col(OutboundMessage.message_id) == sent)).scalar_one()
        scenario.ids["outbound"] = f"out-{out_pk}"
    scenario.ids["prices"] = "price-1"
    scenario.ids["catalogue"] = "catalogue-1"

    for role in ROLES:
        _, token = add_user(engine, f"{role}-user", role)
        scenario.tokens[role] = token
    return scenario


def message_pk(engine: Engine, message_id: str) -> int:
    with Session(engine) as s:
        return int(s.execute(select(col(MessageRecord.id)).where(col(MessageRecord.message_id) == message_id))
                   .scalar_one())
