"""SOAP 1.2 envelopes of Messages.wsdl: what zeep sends we parse, what we build zeep reads."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import zeep
import zeep.exceptions
from lxml import etree

from gateway.soap import envelope
from gateway.soap.datahub_client import BINDING
from gateway.soap.envelope import (
    B2B_NS,
    SOAP12_NS,
    SoapRequestError,
    parse_request,
    unwrap_business_document,
)
from gateway.xml.hardened import XmlInputError
from mappings.samples import DATAHUB_GLN, OUR_DSO_GLN, e66_message, gsrn

LIMIT = 10_000_000
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture(scope="module")
def zeep_client() -> zeep.Client:
    return zeep.Client(str(envelope.WSDL_PATH))


@pytest.fixture(scope="module")
def service(zeep_client: zeep.Client) -> Any:
    return zeep_client.create_service(BINDING, "http://127.0.0.1:9/")


@pytest.fixture(scope="module")
def document() -> bytes:
    return e66_message(OUR_DSO_GLN, DATAHUB_GLN, [gsrn(7)], date(2026, 10, 25))


def _c14n(data: bytes) -> bytes:
    return etree.tostring(etree.fromstring(data), method="c14n")


def _zeep_request(client: zeep.Client, service: Any, operation: str, **kwargs: Any) -> bytes:
    return etree.tostring(client.create_message(service, operation, **kwargs))


class _Reply:
    """The parts of a requests.Response that zeep's SOAP binding reads."""

    def __init__(self, content: bytes, status_code: int = 200) -> None:
        self.content = content
        self.status_code = status_code
        self.headers = {"Content-Type": envelope.SOAP12_CONTENT_TYPE}
        self.encoding = "utf-8"


def _zeep_reads(client: zeep.Client, service: Any, operation: str, content: bytes, status: int = 200) -> Any:
    binding = service._binding
    return binding.process_reply(client, binding.get(operation), _Reply(content, status))


# --- requests as zeep sends them


def test_send_message_request_from_zeep_carries_the_document_as_xml(zeep_client, service, document):
    payload = etree.fromstring(document)
    data = _zeep_request(zeep_client, service, "sendMessage", MessageContainer={"Payload": {"_value_1": payload}})
    request = parse_request(data, LIMIT)
    assert request.operation == "sendMessage"
    assert request.payload_element is not None
    assert _c14n(request.payload_bytes()) == _c14n(document)
    assert b"soap-envelope" not in request.payload_bytes()


def test_peek_request_with_domains(zeep_client, service):
    data = _zeep_request(zeep_client, service, "peekMessage", MessageDomains={"MessageDomain": ["BB01", "BB02"]})
    request = parse_request(data, LIMIT)
    assert (request.operation, request.message_domains, request.payload_element) == (
        "peekMessage",
        ("BB01", "BB02"),
        None,
    )


def test_peek_request_without_domains(zeep_client, service):
    request = parse_request(_zeep_request(zeep_client, service, "peekMessage"), LIMIT)
    assert request.message_domains == ()


def test_dequeue_request(zeep_client, service):
    data = _zeep_request(zeep_client, service, "dequeueMessage", DocumentReferenceNumber="ref-42")
    request = parse_request(data, LIMIT)
    assert (request.operation, request.document_reference_number) == ("dequeueMessage", "ref-42")


def test_process_request(zeep_client, service, document):
    data = _zeep_request(
        zeep_client,
        service,
        "processMessage",
        MessageContainer={"Payload": {"_value_1": etree.fromstring(document)}},
    )
    assert parse_request(data, LIMIT).operation == "processMessage"


def test_our_request_builders_match_what_zeep_sends(zeep_client, service, document):
    ours = parse_request(envelope.send_message_request(document), LIMIT)
    assert _c14n(ours.payload_bytes()) == _c14n(document)
    assert parse_request(envelope.peek_message_request(["BB02"]), LIMIT).message_domains == ("BB02",)
    assert parse_request(envelope.dequeue_message_request("r"), LIMIT).document_reference_number == "r"
    assert parse_request(envelope.process_message_request(document), LIMIT).operation == "processMessage"


# --- requests that deserve a Fault


def test_soap_11_envelope_is_a_version_mismatch():
    data = f'<e:Envelope xmlns:e="{SOAP11_NS}"><e:Body/></e:Envelope>'.encode()
    with pytest.raises(SoapRequestError) as refused:
        parse_request(data, LIMIT)
    assert (refused.value.soap_code, refused.value.error_code) == ("VersionMismatch", "SOAP.VERSION_MISMATCH")
    assert refused.value.http_status == 500


def test_a_bare_document_is_not_an_envelope(document):
    with pytest.raises(SoapRequestError) as refused:
        parse_request(document, LIMIT)
    assert (refused.value.soap_code, refused.value.error_code) == ("Sender", "SOAP.NOT_AN_ENVELOPE")
    assert refused.value.http_status == 400


def test_unknown_operation_is_refused():
    data = f'<e:Envelope xmlns:e="{SOAP12_NS}"><e:Body><b:DeleteEverything xmlns:b="{B2B_NS}"/></e:Body></e:Envelope>'
    with pytest.raises(SoapRequestError) as refused:
        parse_request(data.encode(), LIMIT)
    assert refused.value.error_code == "SOAP.UNKNOWN_OPERATION"


def test_request_that_breaks_the_wsdl_types_is_refused():
    with pytest.raises(SoapRequestError) as bad_domain:
        parse_request(envelope.peek_message_request(["BB09"]), LIMIT)
    assert bad_domain.value.error_code == "SOAP.INVALID_REQUEST"
    assert bad_domain.value.details and "BB09" in bad_domain.value.details
    with pytest.raises(SoapRequestError) as long_ref:
        parse_request(envelope.dequeue_message_request("x" * 37), LIMIT)
    assert long_ref.value.error_code == "SOAP.INVALID_REQUEST"


def test_header_block_that_must_be_understood_is_refused_unless_understood():
    data = (
        f'<e:Envelope xmlns:e="{SOAP12_NS}"><e:Header><s:Security xmlns:s="urn:sec" e:mustUnderstand="true"/>'
        f'</e:Header><e:Body><b:PeekMessageRequest xmlns:b="{B2B_NS}"/></e:Body></e:Envelope>'
    ).encode()
    with pytest.raises(SoapRequestError) as refused:
        parse_request(data, LIMIT)
    assert refused.value.soap_code == "MustUnderstand"
    request = parse_request(data, LIMIT, understood_headers={"{urn:sec}Security"})
    assert [block.tag for block in request.headers] == ["{urn:sec}Security"]


def test_hostile_xml_in_a_request_maps_to_its_xml_code():
    with pytest.raises(SoapRequestError) as refused:
        parse_request(b'<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]><e>&x;</e>', LIMIT)
    assert refused.value.error_code == "XML.DTD_FORBIDDEN"
    with pytest.raises(SoapRequestError) as too_big:
        parse_request(envelope.peek_message_request(), 10)
    assert too_big.value.error_code == "XML.TOO_LARGE"


# --- responses as zeep reads them


def test_zeep_reads_send_message_response(zeep_client, service):
    assert _zeep_reads(zeep_client, service, "sendMessage", envelope.send_message_response("ref-1")) == "ref-1"


def test_zeep_reads_peek_response_with_the_document_as_an_element(zeep_client, service, document):
    container = _zeep_reads(zeep_client, service, "peekMessage", envelope.peek_message_response("ref-2", document))
    assert container.DocumentReferenceNumber == "ref-2"
    assert isinstance(container.Payload._value_1, etree._Element)
    assert _c14n(envelope.standalone_document(container.Payload._value_1)) == _c14n(document)


def test_zeep_reads_empty_peek_and_dequeue_responses(zeep_client, service):
    assert _zeep_reads(zeep_client, service, "peekMessage", envelope.empty_peek_message_response()) is None
    assert _zeep_reads(zeep_client, service, "dequeueMessage", envelope.dequeue_message_response()) is None


def test_zeep_reads_process_response(zeep_client, service, document):
    container = _zeep_reads(zeep_client, service, "processMessage", envelope.process_message_response(None, document))
    assert container.DocumentReferenceNumber is None
    assert etree.QName(container.Payload._value_1).localname == "EnergyTimeSeriesMessage"


def test_zeep_reads_a_fault_with_its_cms_fault_detail(zeep_client, service):
    body = envelope.fault("Sender", "schema says no", "SCHEMA", "msg-1", "line 3: bad")
    with pytest.raises(zeep.exceptions.Fault) as raised:
        _zeep_reads(zeep_client, service, "sendMessage", body, status=400)
    assert raised.value.message == "schema says no"
    assert raised.value.code == "env:Sender"
    cms = raised.value.detail.find(f"{{{B2B_NS}}}CMSFault")
    assert [child.text for child in cms] == ["SCHEMA", "msg-1", "line 3: bad"]


def test_fault_detail_is_valid_against_the_wsdl_cms_fault_type():
    body = etree.fromstring(envelope.fault("Receiver", "down", "E1"))
    cms = body.find(f".//{{{B2B_NS}}}CMSFault")
    assert cms is not None and [etree.QName(c).localname for c in cms] == ["ErrorCode"]
    assert envelope.fault_http_status("Receiver") == 500 and envelope.fault_http_status("Sender") == 400


# --- unwrapping for `gateway ingest`


def test_unwrap_returns_a_bare_document_unchanged(document):
    assert unwrap_business_document(document) is document


def test_unwrap_takes_the_payload_out_of_a_send_request_or_a_peek_response(document):
    for wrapped in (envelope.send_message_request(document), envelope.peek_message_response("r", document)):
        unwrapped = unwrap_business_document(wrapped)
        assert _c14n(unwrapped) == _c14n(document)
        assert B2B_NS.encode() not in unwrapped


def test_unwrap_refuses_an_envelope_without_a_document():
    with pytest.raises(SoapRequestError) as refused:
        unwrap_business_document(envelope.peek_message_request())
    assert refused.value.error_code == "SOAP.NO_PAYLOAD"


def test_unwrap_hands_a_bare_document_back_without_parsing_it():
    """`gateway ingest` unwraps every file: a bare document goes to the pipeline as is, parsed there once."""
    not_well_formed = b'<?xml version="1.0"?>\n<rsm:EnergyTimeSeriesMessage xmlns:rsm="urn:x"><unclosed>'
    assert unwrap_business_document(not_well_formed) is not_well_formed


def test_unwrap_refuses_hostile_input():
    with pytest.raises(XmlInputError):
        unwrap_business_document(b"\x00\x01 not xml")
