"""A store with a little of everything support staff look at, built through the real receive pipeline.

One accounting point (`POINT`) has master data, a spot agreement for a consumer with a personal identity code,
customer data, a general distribution product, quarter-hour metering for March 2026 (a correction on 10.3.),
spot prices for the month and a recorded rating; March is billed (a retail invoice and a distribution invoice
with electricity tax), then a late E66 correction of 20.3. re-rates the month and the billing consumer issues a
credit note and a corrected invoice for each. A bank file pays part of the corrected retail invoice and brings a
payment nobody can place (unmatched). There are refused messages (schema and event level), a parked one, an
outbound F04 whose send died (a dead letter), and users of every role.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.access.users import add_user
from gateway.billing.corrections import correct_billed_period
from gateway.billing.runs import bill
from gateway.config import PROJECT_ROOT
from gateway.demo import write_spot_prices
from gateway.outbound import send_to_datahub
from gateway.payments.bank_samples import SampleEntry, SamplePart, write_camt054
from gateway.payments.importing import import_bank_file
from gateway.queries.timeline import DEQUEUED, record_message_event
from gateway.rating.assignments import AssignmentSpec, assign_product
from gateway.rating.catalogues import active_catalogue, load_catalogue_file
from gateway.rating.prices import import_price_file
from gateway.rating.service import rate_and_record, rerate
from gateway.receive import CHANNEL_DATAHUB, CHANNEL_SOAP, Receiver
from gateway.store.billing_tables import InvoiceRow
from gateway.store.payments_tables import BankEntryRow, UnmatchedPaymentRow
from gateway.store.tables import MessageRecord
from mappings import e66, samples
from outbox.schema import outbox_delivery, outbox_message
from tests.support.pipeline import fixture, register_parties

POINT = samples.gsrn(1)
OTHER_POINT = samples.gsrn(2)
UNKNOWN_POINT = samples.gsrn(77)
MONTH, NEXT_MONTH = date(2026, 3, 1), date(2026, 4, 1)
AGREEMENT_ID = "agreement-support-1"
IDENTITY_CODE = "131052-308T"
CORRECTED_DAY = date(2026, 3, 20)  # corrected after March was billed
ROLES = ("support", "billing-admin", "api-client")


@dataclass
class Scenario:
    tokens: dict[str, str] = field(default_factory=dict)  # role → bearer token
    ids: dict[str, str] = field(default_factory=dict)  # name → message log id (in-N, out-N, …)
    rating_id: int = 0  # the first rating of March (revision 1)
    revised_rating_id: int = 0  # March re-rated after the late correction (revision 2)
    dead_letter_id: int = 0
    invoices: dict[str, int] = field(default_factory=dict)  # retail, distribution, *-credit-note, *-corrected
    run_id: int = 0
    customer_id: int = 0  # the billing customer of POINT
    payment_id: int = 0  # the bank entry that paid part of the corrected retail invoice
    unmatched_id: int = 0  # the bank file's payment that nothing matched
    numbers: dict[str, str] = field(default_factory=dict)  # invoice key (as in `invoices`) → its number


def agreement_message(product_code: str, message_id: str) -> bytes:
    return samples.f04_message(POINT, datetime(2025, 6, 1, tzinfo=UTC), product_code=product_code,
                               agreement_id=AGREEMENT_ID, message_id=message_id)


def populate(engine: Engine, work: Path, *, days: int = 31, rate: bool = True, bill: bool = True) -> Scenario:
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

    if rate and days == 31:
        if bill:
            with Session(engine) as s, s.begin():
                assign_product(s, AssignmentSpec(POINT, "SV-YLEIS", date(2025, 1, 1), main_fuse="3x25A"),
                               active_catalogue(s).catalogue)
        _, recorded = rate_and_record(engine, POINT, MONTH, NEXT_MONTH, cause="test")
        assert recorded is not None and recorded.id is not None
        scenario.rating_id = recorded.id
        if bill:
            _bill_and_correct(engine, scenario, pulled)
            _pay(engine, scenario)
    receiver.close()

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


def late_correction() -> bytes:
    """The DSO's late E66 for 20.3.: four times the first reading, every value estimated (QQ 99)."""
    document = samples.e66_document(samples.DATAHUB_GLN, samples.OUR_SUPPLIER_GLN, [POINT], CORRECTED_DAY,
                                    quality="99", seed=11, message_id="e66-support-late-correction")
    t = document.transactions[0]
    quantities = tuple(None if q is None else q * 4 for q in t.quantities)
    return e66.build(dataclasses.replace(document, transactions=(dataclasses.replace(t, quantities=quantities),)))


def _bill_and_correct(engine: Engine, scenario: Scenario, pulled: Callable[[str, bytes], int]) -> None:
    """Bill March; then a late correction of 20.3. re-rates it, as the outbox consumers would do it."""
    report = bill(engine, MONTH, invoice_date=date(2026, 4, 2))
    assert report.run_id is not None and len(report.invoiced) == 2, report.to_json()
    scenario.run_id = report.run_id
    for item in report.invoiced:
        scenario.invoices[item["entity"]] = int(item["invoice_id"])
        scenario.customer_id = int(item["customer_id"])
    pulled("e66-late", late_correction())
    with Session(engine) as s, s.begin():
        event = s.execute(select(outbox_message.c.message_id).where(
            outbox_message.c.topic == "metering.received",
            outbox_message.c.payload["message_pk"].as_integer() == int(scenario.ids["e66-late"][3:]))).scalar_one()
        revised = rerate(s, POINT, MONTH, NEXT_MONTH, cause=f"metering.received:{event}")
        assert revised is not None and revised.revision == 2 and revised.id is not None
        scenario.revised_rating_id = revised.id
        done = correct_billed_period(s, POINT, MONTH, NEXT_MONTH, invoice_date=date(2026, 4, 23))
    assert [d["action"] for d in done] == ["credit note and corrected invoice"] * 2, done
    with Session(engine) as s:
        for entity, original in list(scenario.invoices.items()):
            for pk, kind in s.execute(select(col(InvoiceRow.id), col(InvoiceRow.kind)).where(
                    col(InvoiceRow.original_invoice_id) == original)).all():
                scenario.invoices[f"{entity}-{'credit-note' if kind == 'credit_note' else 'corrected'}"] = int(pk)
        for key, pk in scenario.invoices.items():
            scenario.numbers[key] = s.execute(select(col(InvoiceRow.number)).where(
                col(InvoiceRow.id) == pk)).scalar_one()


PAID_ON = date(2026, 5, 4)
PAID = Decimal("10.00")  # on the corrected retail invoice
UNPLACED = Decimal("25.00")  # a valid reference no invoice has
UNPLACED_REFERENCE = "1232"


def _pay(engine: Engine, scenario: Scenario) -> None:
    """A camt.054 to the retail company's account: part of the corrected invoice, and money nothing matches."""
    with Session(engine) as s:
        invoice = s.get(InvoiceRow, scenario.invoices["retail-corrected"])
        assert invoice is not None
        reference = invoice.reference
    out = io.BytesIO()
    write_camt054(out, "FI2112345600000785", [
        SampleEntry("SUPPORT-PAID-1", PAID, PAID_ON, parts=[SamplePart(reference)], payer="ASIAKAS ANNA"),
        SampleEntry("SUPPORT-UNPLACED-1", UNPLACED, PAID_ON, parts=[SamplePart(UNPLACED_REFERENCE)],
                    payer="TUNTEMATON TEPPO")], message_id="SUPPORT-BANK-1")
    result = import_bank_file(engine, "support-camt054.xml", out.getvalue())
    assert (result.allocated, result.unmatched) == (1, 1), result.to_json()
    scenario.ids["bank"] = f"bank-{result.file_id}"
    with Session(engine) as s:
        scenario.payment_id = int(s.execute(select(col(BankEntryRow.id)).where(
            col(BankEntryRow.entry_ref) == "SUPPORT-PAID-1")).scalar_one())
        scenario.unmatched_id = int(s.execute(select(col(UnmatchedPaymentRow.id))).scalar_one())


def message_pk(engine: Engine, message_id: str) -> int:
    with Session(engine) as s:
        return int(s.execute(select(col(MessageRecord.id)).where(col(MessageRecord.message_id) == message_id))
                   .scalar_one())
