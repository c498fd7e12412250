"""The receive pipeline's promises, on SQLite and PostgreSQL: accept, version, reject, deduplicate, park."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.bootstrap import build_registry
from gateway.config import Settings
from gateway.rating.assignments import AssignmentSpec, assign_product
from gateway.rating.catalogues import active_catalogue, load_catalogue_file
from gateway.receive import (
    ACCEPTED,
    CHANNEL_DATAHUB,
    CHANNEL_SOAP,
    DUPLICATE,
    MAX_ERRORS,
    PARKED,
    PARTIALLY_ACCEPTED,
    PROCESS,
    REJECTED,
    SCHEMA,
    Receiver,
)
from gateway.store.constraints import violated_constraint
from gateway.store.metadata import all_metadata
from gateway.store.metering import SeriesKey, latest_series, next_versions, unpack
from gateway.store.queries import insert_rows
from gateway.store.tables import (
    UQ_TRANSACTION,
    AccountingPointRow,
    CustomerRow,
    MessageRecord,
    MeteringSeriesRow,
    ParkedMessage,
    PartyQueueItem,
    RawMessage,
    SalesAgreementRow,
    TransactionRecord,
)
from gateway.xml.hardened import parse_xml
from mappings import e66, samples
from outbox.worker import Worker
from tests.support.pipeline import FIXTURES, HOSTILE, fixture, register_parties
from tests.support.rating_store import DEMO_CATALOGUE

DSO = samples.OUR_DSO_GLN
DATAHUB = samples.DATAHUB_GLN
POINT_1 = samples.gsrn(1)


@pytest.fixture
def receiver(engine: Engine) -> Receiver:
    register_parties(engine)
    return Receiver(engine)


def _count(engine: Engine, table: type) -> int:
    with Session(engine) as s:
        return int(s.execute(select(func.count()).select_from(table)).scalar_one())


def _domain_counts(engine: Engine) -> tuple[int, ...]:
    return tuple(_count(engine, t) for t in (MeteringSeriesRow, AccountingPointRow, CustomerRow, SalesAgreementRow))


def _master_data(receiver: Receiver) -> None:
    for n in (1, 2, 3):
        out = receiver.receive(fixture(f"e58-accounting-point-{n}.xml"), authenticated_gln=DATAHUB,
                               channel=CHANNEL_DATAHUB)
        assert out.result == ACCEPTED, out


def test_metering_series_are_versioned_and_history_is_kept(receiver: Receiver, engine: Engine) -> None:
    _master_data(receiver)
    first = receiver.receive(fixture("e66-winter-day-pt15m.xml"), authenticated_gln=DSO, channel=CHANNEL_SOAP)
    assert (first.result, first.reason_code, first.errors) == (ACCEPTED, "BA01", ())
    between = datetime.now(UTC)
    for name in ("e66-correction-z01.xml", "e66-status-only-change.xml"):
        assert receiver.receive(fixture(name), authenticated_gln=DSO, channel=CHANNEL_SOAP).result == ACCEPTED

    start, end = datetime(2026, 1, 14, 22, tzinfo=UTC), datetime(2026, 1, 15, 22, tzinfo=UTC)
    with Session(engine) as s:
        versions = s.execute(select(MeteringSeriesRow.version).where(MeteringSeriesRow.accounting_point == POINT_1)
                             .order_by(MeteringSeriesRow.version)).scalars().all()
        assert versions == [1, 2, 3], "a later message for the same period is a new version, not an overwrite"
        (latest,) = latest_series(s, POINT_1, start, end)
        (as_of_first,) = latest_series(s, POINT_1, start, end, as_of=between)
    assert latest.version == 3 and as_of_first.version == 1
    values, quality = unpack(latest)
    assert len(values) == 96 and latest.positions == 96
    _old_values, old_quality = unpack(as_of_first)
    assert (old_quality[39:43] == 3).all(), "estimates (QQ 99) in the first version"
    assert (quality[39:43] == 0).all(), "a status-only change is a change: now measured"
    # An ACK for the sender to peek, answering the message it sent.
    with Session(engine) as s:
        acks = s.execute(select(PartyQueueItem).where(PartyQueueItem.recipient_gln == DSO)).scalars().all()
    assert len(acks) == 3 and b"BA01" in acks[0].body


def test_the_next_version_counts_only_the_same_period_whatever_else_the_point_has_stored(engine: Engine) -> None:
    day = timedelta(days=1)
    first = datetime(2026, 1, 14, 22, tzinfo=UTC)

    def key(start: datetime, product: str = "8716867000030") -> SeriesKey:
        return SeriesKey(POINT_1, product, "PT15M", start, start + day)

    with Session(engine) as s, s.begin():
        for n, version in ((0, 1), (1, 1), (1, 2), (2, 1), (5, 1)):  # other days, and a corrected one
            s.add(MeteringSeriesRow(accounting_point=POINT_1, product="8716867000030", unit="kWh", resolution="PT15M",
                                 period_start=first + n * day, period_end=first + (n + 1) * day, version=version,
                                 positions=96, values=bytes(768), quality=bytes(96), transaction_id=f"t{n}{version}",
                                 message_pk=1, received_at=datetime.now(UTC)))
    with Session(engine) as s:
        asked = [key(first + day), key(first + 3 * day), key(first + day), key(first), key(first, "other")]
        assert next_versions(s, asked) == [3, 1, 4, 2, 1]


def test_dst_days_are_accepted_with_92_and_100_quarters(receiver: Receiver, engine: Engine) -> None:
    _master_data(receiver)
    for name, expected in (("e66-dst-spring-2026-03-29.xml", 92), ("e66-dst-autumn-2026-10-25.xml", 100)):
        out = receiver.receive(fixture(name), authenticated_gln=DSO, channel=CHANNEL_SOAP)
        assert out.result == ACCEPTED, out.errors
        with Session(engine) as s:
            positions = set(s.execute(select(MeteringSeriesRow.positions)
                                      .where(MeteringSeriesRow.message_pk == out.message_pk)).scalars())
        assert positions == {expected}


def test_identical_resend_is_a_duplicate_and_changes_nothing(receiver: Receiver, engine: Engine) -> None:
    _master_data(receiver)
    body = fixture("e66-winter-day-pt15m.xml")
    original = receiver.receive(body, authenticated_gln=DSO, channel=CHANNEL_SOAP)
    before = _domain_counts(engine), _count(engine, MessageRecord)
    again = receiver.receive(body, authenticated_gln=DSO, channel=CHANNEL_SOAP)
    assert again.result == DUPLICATE and again.message_pk == original.message_pk
    assert again.ack == original.ack, "the original acknowledgement is returned"
    assert (_domain_counts(engine), _count(engine, MessageRecord)) == before


def test_same_message_id_with_other_bytes_is_rejected_and_the_original_stays(
    receiver: Receiver, engine: Engine
) -> None:
    _master_data(receiver)
    body = fixture("e66-winter-day-pt15m.xml")
    receiver.receive(body, authenticated_gln=DSO, channel=CHANNEL_SOAP)
    before = _domain_counts(engine)
    tampered = body.replace(b"<elm:QTY>2.468<", b"<elm:QTY>3.468<", 1)
    assert tampered != body
    out = receiver.receive(tampered, authenticated_gln=DSO, channel=CHANNEL_SOAP)
    assert (out.result, out.level, out.reason_code) == (REJECTED, PROCESS, "PRC.DUPLICATE_MESSAGE_ID")
    assert out.is_fault
    assert _domain_counts(engine) == before


def test_two_concurrent_deliveries_of_one_message_exactly_one_wins(receiver: Receiver, engine: Engine) -> None:
    _master_data(receiver)
    body = fixture("e66-bundle-50.xml")
    for n in range(4, 51):
        e58 = samples.e58_message(samples.gsrn(n), datetime(2026, 1, 1, tzinfo=UTC))
        assert receiver.receive(e58, authenticated_gln=DATAHUB, channel=CHANNEL_DATAHUB).result == ACCEPTED
    results: list[str] = []
    barrier = threading.Barrier(4)

    def deliver() -> None:
        barrier.wait()
        results.append(receiver.receive(body, authenticated_gln=DSO, channel=CHANNEL_SOAP).result)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [ACCEPTED, DUPLICATE, DUPLICATE, DUPLICATE]
    assert _count(engine, MeteringSeriesRow) == 50


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("invalid-schema-*.xml")), ids=lambda p: p.name)
def test_schema_invalid_messages_are_rejected_with_every_error_located(
    receiver: Receiver, engine: Engine, path: object
) -> None:
    out = receiver.receive(path.read_bytes(), authenticated_gln=DATAHUB, channel=CHANNEL_SOAP)  # type: ignore[attr-defined]
    assert (out.result, out.level) == (REJECTED, SCHEMA) and out.is_fault
    assert out.errors and all(e.line for e in out.errors)
    assert _domain_counts(engine) == (0, 0, 0, 0)
    assert _count(engine, RawMessage) == 1, "the rejected message is archived for the audit log"


def test_event_errors_give_a_negative_ack_with_datahub_style_codes(receiver: Receiver, engine: Engine) -> None:
    _master_data(receiver)
    out = receiver.receive(fixture("invalid-event-e66-wrong-obs-count.xml"), authenticated_gln=DSO,
                           channel=CHANNEL_SOAP)
    assert (out.result, out.reason_code) == (REJECTED, "BA02") and not out.is_fault
    assert out.ack is not None and b"BA02" in out.ack and b"EC.GW.113" in out.ack
    assert _count(engine, MeteringSeriesRow) == 0

    unknown = receiver.receive(fixture("invalid-event-e66-unknown-accounting-point.xml"), authenticated_gln=DSO,
                               channel=CHANNEL_SOAP)
    assert unknown.reason_code == "BA02" and unknown.errors[0].code == "EC.MPT.115"


def test_a_bundle_with_some_unknown_points_is_partially_accepted(receiver: Receiver, engine: Engine) -> None:
    _master_data(receiver)  # gsrn(1..3) known, gsrn(4..50) not
    out = receiver.receive(fixture("e66-bundle-50.xml"), authenticated_gln=DSO, channel=CHANNEL_SOAP)
    assert (out.result, out.reason_code) == (PARTIALLY_ACCEPTED, "BA03")
    assert {e.code for e in out.errors} == {"EC.MPT.115"} and len(out.errors) == 47
    assert out.ack is not None and out.ack.count(b"SeriesDetail") >= 47
    assert _count(engine, MeteringSeriesRow) == 3


def test_a_flood_of_event_errors_is_capped_and_counted_and_the_ack_names_every_rejected_series(
    receiver: Receiver, engine: Engine
) -> None:
    points = [samples.gsrn(n) for n in range(100, 250)]  # 150 series, none of their points known
    bundle = samples.e66_message(DSO, samples.OUR_SUPPLIER_GLN, points, datetime(2026, 1, 15, tzinfo=UTC).date())
    out = receiver.receive(bundle, authenticated_gln=DSO, channel=CHANNEL_SOAP)
    assert (out.result, out.reason_code) == (REJECTED, "BA02")
    assert len(out.errors) == MAX_ERRORS and out.error_count == 150 and out.to_json()["error_count"] == 150
    assert out.ack is not None and out.ack.count(b"SeriesDetail>") // 2 == 150, "every rejected series is named"
    with Session(engine) as s:
        record = s.get(MessageRecord, out.message_pk)
    assert record is not None and len(record.errors or []) == MAX_ERRORS and record.error_count == 150
    again = receiver.receive(bundle, authenticated_gln=DSO, channel=CHANNEL_SOAP)
    assert again.result == DUPLICATE and again.error_count == 150 and again.ack == out.ack


def test_process_rules_refuse_wrong_senders(receiver: Receiver, engine: Engine) -> None:
    _master_data(receiver)
    body = fixture("e66-winter-day-pt15m.xml")
    impostor = receiver.receive(body, authenticated_gln=samples.OTHER_SUPPLIER_GLN, channel=CHANNEL_SOAP)
    assert impostor.is_fault and impostor.reason_code == "PRC.SENDER_NOT_AUTHENTICATED"
    # A supplier may not send metering data, even as its own physical sender.
    as_supplier = body.replace(DSO.encode(), samples.OTHER_SUPPLIER_GLN.encode(), 2).replace(
        b"e66-winter-0001", b"e66-winter-0001-b")
    out = receiver.receive(as_supplier, authenticated_gln=samples.OTHER_SUPPLIER_GLN, channel=CHANNEL_SOAP)
    assert out.is_fault and "PRC.ROLE_NOT_ALLOWED" in {e.code for e in out.errors}
    assert _count(engine, MeteringSeriesRow) == 0


def test_a_message_for_a_recipient_that_is_not_ours_is_refused(receiver: Receiver, engine: Engine) -> None:
    _master_data(receiver)
    body = fixture("e66-winter-day-pt15m.xml").replace(
        samples.OUR_SUPPLIER_GLN.encode(), samples.OTHER_SUPPLIER_GLN.encode())
    out = receiver.receive(body, authenticated_gln=DSO, channel=CHANNEL_SOAP)
    assert out.is_fault and "PRC.NOT_OUR_PARTY" in {e.code for e in out.errors}
    assert _count(engine, MeteringSeriesRow) == 0


def test_pulled_metering_data_waits_parked_for_its_master_data(receiver: Receiver, engine: Engine) -> None:
    out = receiver.receive(fixture("e66-winter-day-pt15m.xml"), authenticated_gln=DSO, channel=CHANNEL_DATAHUB,
                           allow_parking=True)
    assert out.result == PARKED and _count(engine, MeteringSeriesRow) == 0
    with Session(engine) as s:
        (parked,) = s.execute(select(ParkedMessage)).scalars().all()
    assert parked.waiting_for == [POINT_1] and parked.released_at is None

    assert receiver.receive(fixture("e58-accounting-point-1.xml"), authenticated_gln=DATAHUB,
                            channel=CHANNEL_DATAHUB).result == ACCEPTED
    worker = Worker(engine, build_registry(Settings(), engine))
    assert [o.result for o in worker.drain() if o.message.topic == "gateway.release_parked"] == ["done"]
    with Session(engine) as s:
        record = s.get(MessageRecord, out.message_pk)
        released = s.execute(select(ParkedMessage)).scalar_one()
    assert record is not None and record.status == ACCEPTED and released.released_at is not None
    assert _count(engine, MeteringSeriesRow) == 1


def test_hostile_documents_are_refused_and_change_nothing(receiver: Receiver, engine: Engine) -> None:
    _master_data(receiver)
    before = _domain_counts(engine)
    small = Receiver(engine, max_bytes=64 * 1024)
    for path in sorted(HOSTILE.iterdir()):
        out = small.receive(path.read_bytes(), authenticated_gln=DSO, channel=CHANNEL_SOAP)
        assert out.result == REJECTED and out.is_fault, path.name
        assert out.errors[0].code.startswith(("XML.", "SCH.", "XSD.")), (path.name, out.errors)
    assert _domain_counts(engine) == before


def test_master_data_and_agreements_are_stored_without_showing_identity_codes(
    receiver: Receiver, engine: Engine
) -> None:
    _master_data(receiver)
    for name in ("f01-consumer.xml", "f04-new-agreement-e-invoice.xml", "f06-end-notice-move-out.xml"):
        out = receiver.receive(fixture(name), authenticated_gln=DATAHUB, channel=CHANNEL_DATAHUB)
        assert out.result == ACCEPTED, (name, out.errors)
    with Session(engine) as s:
        customer = s.execute(select(CustomerRow)).scalar_one()
        agreement = s.execute(select(SalesAgreementRow)).scalar_one()
    assert customer.identification_masked == "131052-****"
    assert "131052-308T" not in str(customer.attributes)
    assert agreement.product_code and agreement.status == "ended" and agreement.end is not None


def test_a_resent_refused_message_is_refused_again(receiver: Receiver, engine: Engine) -> None:
    body = fixture("invalid-schema-e58-no-grid-area.xml")
    first = receiver.receive(body, authenticated_gln=DATAHUB, channel=CHANNEL_SOAP)
    again = receiver.receive(body, authenticated_gln=DATAHUB, channel=CHANNEL_SOAP)
    assert first.is_fault and again.is_fault, "the Fault is replayed, never a success"
    assert (again.result, again.reason_code) == (REJECTED, first.reason_code)


def test_an_end_notice_for_no_active_agreement_is_refused(receiver: Receiver, engine: Engine) -> None:
    _master_data(receiver)
    out = receiver.receive(fixture("f06-end-notice-minimal.xml"), authenticated_gln=DATAHUB,
                           channel=CHANNEL_DATAHUB)
    assert (out.result, out.reason_code) == (REJECTED, "BA02")
    assert out.errors[0].code == "EC.GW.134"


def test_master_data_that_commits_while_metering_data_is_being_parked_still_releases_it(
    receiver: Receiver, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gateway.receive.checks as checks

    _master_data(receiver)
    real_known = checks.known_points
    calls = {"n": 0}

    def stale_first_answer(session: Session, gsrns: object) -> set[str]:
        calls["n"] += 1  # the check's view predates the E58's commit; the park transaction's does not
        return set() if calls["n"] == 1 else real_known(session, gsrns)  # type: ignore[arg-type]

    monkeypatch.setattr(checks, "known_points", stale_first_answer)
    out = receiver.receive(fixture("e66-winter-day-pt15m.xml"), authenticated_gln=DSO, channel=CHANNEL_DATAHUB,
                           allow_parking=True)
    monkeypatch.setattr(checks, "known_points", real_known)
    assert out.result == PARKED and calls["n"] == 1, "the park step looks again itself"
    Worker(engine, build_registry(Settings(), engine)).drain()
    with Session(engine) as s:
        record = s.get(MessageRecord, out.message_pk)
    assert record is not None and record.status == ACCEPTED
    assert _count(engine, MeteringSeriesRow) == 1


def test_a_parked_message_is_applied_once_however_many_releases_arrive(receiver: Receiver, engine: Engine) -> None:
    out = receiver.receive(fixture("e66-winter-day-pt15m.xml"), authenticated_gln=DSO, channel=CHANNEL_DATAHUB,
                           allow_parking=True)
    receiver.receive(fixture("e58-accounting-point-1.xml"), authenticated_gln=DATAHUB, channel=CHANNEL_DATAHUB)
    with Session(engine) as s:
        parked_id = s.execute(select(ParkedMessage.id)).scalar_one()
    with Session(engine) as s, s.begin():
        assert receiver.retry_parked(s, parked_id) == ACCEPTED
    with Session(engine) as s, s.begin():
        assert receiver.retry_parked(s, parked_id) == "gone"
    assert _count(engine, MeteringSeriesRow) == 1 and out.result == PARKED


def test_validate_stores_nothing_even_when_the_message_id_collides(receiver: Receiver, engine: Engine) -> None:
    _master_data(receiver)
    body = fixture("e66-winter-day-pt15m.xml")
    receiver.receive(body, authenticated_gln=DSO, channel=CHANNEL_SOAP)
    archived = _count(engine, RawMessage)
    tampered = body.replace(b"<elm:QTY>2.468<", b"<elm:QTY>3.468<", 1)
    out = receiver.receive(tampered, authenticated_gln=DSO, channel=CHANNEL_SOAP, store=False)
    assert out.reason_code == "PRC.DUPLICATE_MESSAGE_ID"
    assert _count(engine, RawMessage) == archived


def test_customer_events_and_errors_never_carry_an_identity_code(receiver: Receiver, engine: Engine) -> None:
    from outbox.schema import outbox_message

    receiver.receive(fixture("f01-consumer.xml"), authenticated_gln=DATAHUB, channel=CHANNEL_DATAHUB)
    with Session(engine) as s:
        events = s.execute(select(outbox_message.c.topic, outbox_message.c.payload)).all()
    # Customer changes emit no event until a consumer needs one (gateway.events); none carries the code anyway.
    assert not any("131052" in str(payload) for _, payload in events)
    assert "masterdata.customer" not in {topic for topic, _ in events}
    wrongly_typed = fixture("f01-consumer.xml").replace(b">AA03<", b">AA01<").replace(b"f01-", b"f01-typed-")
    out = receiver.receive(wrongly_typed, authenticated_gln=DATAHUB, channel=CHANNEL_DATAHUB)
    assert out.result == REJECTED and "131052-308T" not in str(out.errors)


def _big_bundle(points: int) -> bytes:
    """A bundle well above the size from which the mapping runs while the XSD validates."""
    return samples.e66_message(DATAHUB, samples.OUR_SUPPLIER_GLN, [samples.gsrn(n) for n in range(1, points + 1)],
                               datetime(2026, 1, 15, tzinfo=UTC).date())


def test_a_large_bundle_mapped_while_validating_is_stored_exactly(receiver: Receiver, engine: Engine) -> None:
    _master_data(receiver)
    data = _big_bundle(3)
    padded = data.replace(b"<rsm:Transaction>", b"<!-- " + b"x" * 70_000 + b" --><rsm:Transaction>", 1)
    out = receiver.receive(padded, authenticated_gln=DATAHUB, channel=CHANNEL_DATAHUB)
    assert out.result == ACCEPTED and out.transactions == 3
    expected = e66.parse(parse_xml(data, max_bytes=len(data)).getroot())
    with Session(engine) as s:
        for txn in expected.transactions:
            (row,) = latest_series(s, txn.accounting_point, txn.start, txn.end)
            assert unpack(row)[0].tolist() == list(txn.micro_units())


def test_a_large_invalid_document_that_breaks_the_mapping_gets_schema_errors(
    receiver: Receiver, engine: Engine
) -> None:
    _master_data(receiver)
    data = _big_bundle(30)
    assert len(data) > 64 * 1024
    # Without Start the mapping itself fails; the answer must still be the XSD's, with its line.
    broken = data.replace(b"<elm:Start>", b"<elm:Begin>", 1).replace(b"</elm:Start>", b"</elm:Begin>", 1)
    out = receiver.receive(broken, authenticated_gln=DATAHUB, channel=CHANNEL_SOAP)
    assert (out.result, out.level) == (REJECTED, SCHEMA), out
    assert out.errors[0].line is not None and "Begin" in out.errors[0].text
    assert _domain_counts(engine)[0] == 0


def test_bulk_inserts_report_a_violated_constraint_by_name(engine: Engine) -> None:
    def row(n: int, errors: object = None) -> dict[str, object]:
        return {"sender_gln": DATAHUB, "transaction_id": f"t-{n}", "message_pk": 1, "accounting_point": POINT_1,
                "status": "accepted", "errors": errors}

    table = TransactionRecord.__table__  # type: ignore[attr-defined]
    first = [row(0, [{"code": "X", "text": "ä"}]), *(row(n) for n in range(1, 12))]  # enough rows for COPY
    for rows in (first, [row(100), row(101)]):
        with Session(engine) as s, s.begin():
            insert_rows(s, table, rows)
    for repeat in ([*(row(n) for n in range(200, 211)), row(5)], [row(300), row(101)]):
        with pytest.raises(IntegrityError) as caught, Session(engine) as s, s.begin():
            insert_rows(s, table, repeat)
        assert violated_constraint(caught.value, all_metadata()) == UQ_TRANSACTION
    with Session(engine) as s:
        stored = {r.transaction_id: r.errors for r in s.execute(select(TransactionRecord)).scalars()}
    assert len(stored) == 14, "the failed batches left nothing behind"
    assert stored["t-0"] == [{"code": "X", "text": "ä"}] and stored["t-1"] is None


def test_heat_readings_parked_for_an_unknown_meter_go_when_the_meter_gets_its_heating_product(
    receiver: Receiver, engine: Engine
) -> None:
    """Heat meters are not in Datahub: a district-heating product assignment is what makes their readings
    known, so assigning one releases the readings that were parked for the meter."""
    out = receiver.receive(fixture("e66-winter-day-pt15m.xml"), authenticated_gln=DSO, channel=CHANNEL_DATAHUB,
                           allow_parking=True)
    assert out.result == PARKED

    load_catalogue_file(engine, DEMO_CATALOGUE)
    with Session(engine) as s, s.begin():
        assign_product(s, AssignmentSpec(POINT_1, "KL-KUUKAUSI", datetime(2025, 6, 1).date()),
                       active_catalogue(s).catalogue)
    worker = Worker(engine, build_registry(Settings(), engine))
    assert "done" in [o.result for o in worker.drain() if o.message.topic == "gateway.release_parked"]
    with Session(engine) as s:
        record = s.get(MessageRecord, out.message_pk)
        released = s.execute(select(ParkedMessage)).scalar_one()
    assert record is not None and record.status == ACCEPTED and released.released_at is not None
    assert _count(engine, MeteringSeriesRow) == 1
