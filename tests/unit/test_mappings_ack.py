"""ACK: parsing Datahub's answers, and `build_ack_for` answering a received message."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

from lxml import etree

from gateway.domain.acknowledgement import AckMessage, EventReason, SeriesDetail, SeriesReason, original_message_id
from gateway.domain.message import ProcessContext
from gateway.validation import EventError, check_message
from mappings import ack
from mappings.registry import SCHEMA_ROOT
from mappings.samples import (
    DATAHUB_GLN,
    OUR_DSO_GLN,
    OUR_SUPPLIER_GLN,
    SERVICE_PROVIDER_GLN,
    e66_document,
    gsrn,
    header,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "datahub"


@cache
def ack_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_ROOT / ack.SPEC.xsd)))


def parse(xml: bytes) -> AckMessage:
    root = etree.fromstring(xml)
    assert ack_schema().validate(root), ack_schema().error_log
    return ack.parse(root)


def test_parse_a_partial_acceptance() -> None:
    message = ack.parse(etree.parse(str(FIXTURES / "ack-ba03-partially-accepted.xml")).getroot())
    (answer,) = message.transactions
    assert answer.reason_code == "BA03"
    assert original_message_id(message) == "e66-winter-0001"
    (detail,) = answer.series_details
    assert detail == SeriesDetail(
        series_id="e66-bundle-t17",
        senders_series_id="DSO-SERIES-17",
        reasons=(SeriesReason("EC.GW.113", "94 observations but the period holds 96", ("SEQ",)),),
    )


def test_parse_a_rejection_with_event_reasons() -> None:
    message = ack.parse(etree.parse(str(FIXTURES / "ack-ba02-rejected.xml")).getroot())
    (answer,) = message.transactions
    assert answer.reason_code == "BA02"
    assert answer.event_reasons == (EventReason("EC.MPT.115", "Accounting point not found", ("645823734848458216",)),)


class TestBuildAckFor:
    received = dataclasses.replace(
        header("E66", OUR_DSO_GLN, OUR_SUPPLIER_GLN, "msg-123", physical_sender=SERVICE_PROVIDER_GLN),
        sender_routing_information="route-42",
    )

    def test_swaps_parties_and_references_the_received_message(self) -> None:
        message = parse(ack.build_ack_for(self.received, OUR_SUPPLIER_GLN, "BA01", [], []))
        h = message.header
        assert h.document_type == "ACK"
        assert (h.physical_sender, h.juridical_sender) == (OUR_SUPPLIER_GLN, OUR_SUPPLIER_GLN)
        assert h.juridical_recipient == OUR_DSO_GLN  # the received message's juridical sender
        assert h.physical_recipient == SERVICE_PROVIDER_GLN  # … reached through its physical sender
        assert h.sender_routing_information == "route-42"
        assert h.original_business_document_reference == "msg-123"
        assert message.context == ProcessContext("DH-211", "DDQ")
        assert message.transactions[0].reason_code == "BA01"

    def test_new_message_id_each_time_unless_given(self) -> None:
        first = parse(ack.build_ack_for(self.received, DATAHUB_GLN, "BA01", [], [])).header.message_id
        second = parse(ack.build_ack_for(self.received, DATAHUB_GLN, "BA01", [], [])).header.message_id
        assert first != second and len(first) == 36
        given = parse(ack.build_ack_for(self.received, DATAHUB_GLN, "BA01", [], [], "ack-1")).header.message_id
        assert given == "ack-1"

    def test_event_errors_become_event_reasons(self) -> None:
        errors = [EventError("EC.MPT.115", "accounting point not found")]
        when = datetime(2026, 1, 1, tzinfo=UTC)
        message = parse(ack.build_ack_for(self.received, DATAHUB_GLN, "BA02", errors, [], "a", creation=when))
        assert message.transactions[0].event_reasons == (EventReason("EC.MPT.115", "accounting point not found"),)
        assert message.header.creation == when

    def test_a_partially_accepted_bundle_is_answered_from_the_check_result(self) -> None:
        received = e66_document(OUR_DSO_GLN, DATAHUB_GLN, [gsrn(1), gsrn(2), gsrn(999)], date(2026, 3, 29))
        result = check_message(received, lambda point: point != gsrn(999))
        assert result.reason_code == "BA03"
        message = parse(
            ack.build_ack_for(
                received.header, DATAHUB_GLN, result.reason_code, result.event_reasons(), result.series_details()
            )
        )
        (detail,) = message.transactions[0].series_details
        assert detail.series_id == received.transactions[2].transaction_id
        assert [r.code for r in detail.reasons] == ["EC.MPT.115"]
