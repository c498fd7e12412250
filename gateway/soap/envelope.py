"""SOAP 1.2 envelopes of Datahub's MarketMessaging B2B service (``schemas/…/wsdl/Messages.wsdl``).

The server side is a small lxml handler (zeep is only a client): ``parse_request`` reads a request with the
hardened parser and checks the body against the WSDL's own type schema; the builders render responses and
Faults exactly as the WSDL's document/literal binding describes them, so zeep can read them.

Element names (WSDL types namespace ``urn:cms:b2b:v01``, every part is the ``parameters`` element):

=================  =========================  ============================================================
operation          request body element       response body element
=================  =========================  ============================================================
sendMessage        SendMessageRequest         SendMessageResponse/DocumentReferenceNumber
processMessage     ProcessMessageRequest      ProcessMessageResponse/MessageContainer
peekMessage        PeekMessageRequest         PeekMessageResponse[/MessageContainer] (empty: no message)
dequeueMessage     DequeueMessageRequest      DequeueMessageResponse (empty)
=================  =========================  ============================================================

Requests carry ``MessageContainer/Payload/<business document>``; responses carry
``MessageContainer/[DocumentReferenceNumber]/Payload/<business document>``. Faults carry
``Detail/CMSFault{ErrorCode, ErrorIdentification?, ErrorDetails?}``.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from lxml import etree

from gateway.xml.hardened import XmlInputError, parse_xml, peek_root_name

SOAP12_NS: Final = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"
B2B_NS: Final = "urn:cms:b2b:v01"
SERVICE_NS: Final = "urn:cms:b2b:service:v01"
XSD_NS: Final = "http://www.w3.org/2001/XMLSchema"
WSDL_NS: Final = "http://schemas.xmlsoap.org/wsdl/"
WSDL_PATH: Final = Path(__file__).resolve().parents[2] / "schemas" / "datahub-2.3.4.0" / "wsdl" / "Messages.wsdl"
SOAP12_CONTENT_TYPE: Final = "application/soap+xml; charset=utf-8"
DEFAULT_MAX_BYTES: Final = 64 * 1024 * 1024

Operation = Literal["sendMessage", "processMessage", "peekMessage", "dequeueMessage"]
FaultCode = Literal["Sender", "Receiver", "VersionMismatch", "MustUnderstand", "DataEncodingUnknown"]

OPERATION_BY_REQUEST: Final[dict[str, Operation]] = {
    "SendMessageRequest": "sendMessage",
    "ProcessMessageRequest": "processMessage",
    "PeekMessageRequest": "peekMessage",
    "DequeueMessageRequest": "dequeueMessage",
}

# Our own Fault error codes for envelope-level problems (Datahub's own codes are not published in the
# schema set; these stay recognisable by prefix).
SOAP_VERSION_MISMATCH: Final = "SOAP.VERSION_MISMATCH"
SOAP_NOT_AN_ENVELOPE: Final = "SOAP.NOT_AN_ENVELOPE"
SOAP_NO_BODY: Final = "SOAP.NO_BODY"
SOAP_UNKNOWN_OPERATION: Final = "SOAP.UNKNOWN_OPERATION"
SOAP_INVALID_REQUEST: Final = "SOAP.INVALID_REQUEST"
SOAP_MUST_UNDERSTAND: Final = "SOAP.MUST_UNDERSTAND"
SOAP_NO_PAYLOAD: Final = "SOAP.NO_PAYLOAD"


def _q(name: str, ns: str = B2B_NS) -> str:
    return f"{{{ns}}}{name}"


class SoapRequestError(Exception):
    """A request that must be answered with a SOAP Fault (``soap_code`` is the SOAP 1.2 fault code)."""

    def __init__(
        self, error_code: str, reason: str, *, soap_code: FaultCode = "Sender", details: str | None = None
    ) -> None:
        super().__init__(f"{error_code}: {reason}")
        self.error_code = error_code
        self.reason = reason
        self.soap_code: FaultCode = soap_code
        self.details = details

    @property
    def http_status(self) -> int:
        return fault_http_status(self.soap_code)

    def to_fault(self, error_identification: str | None = None) -> bytes:
        return fault(self.soap_code, self.reason, self.error_code, error_identification, self.details)


@dataclass(frozen=True, slots=True)
class SoapRequest:
    operation: Operation
    body_element: etree._Element
    payload_element: etree._Element | None
    message_domains: tuple[str, ...]
    document_reference_number: str | None
    headers: tuple[etree._Element, ...]

    def payload_bytes(self) -> bytes:
        """The business document as a standalone UTF-8 document (see ``standalone_document``). To validate
        without re-parsing, pass ``payload_element`` to the schema registry directly."""
        if self.payload_element is None:
            raise SoapRequestError(SOAP_NO_PAYLOAD, f"{self.operation} carries no payload")
        return standalone_document(self.payload_element)


def parse_request(
    data: bytes, max_bytes: int = DEFAULT_MAX_BYTES, *, understood_headers: Collection[str] = ()
) -> SoapRequest:
    """Parse a MarketMessaging request. Raises ``SoapRequestError`` for anything that deserves a Fault.

    ``understood_headers``: Clark names of header blocks the caller processes; any other header block marked
    ``mustUnderstand`` is refused with a MustUnderstand Fault, as SOAP 1.2 requires.
    """
    try:
        tree = parse_xml(data, max_bytes=max_bytes)
    except XmlInputError as exc:
        raise SoapRequestError(exc.code, exc.text, details=_where(exc.line, exc.column)) from None
    envelope = tree.getroot()
    body = _body_of(envelope)
    headers = _headers_of(envelope)
    for block in headers:
        must = block.get(_q("mustUnderstand", SOAP12_NS), "false").strip()
        if must in ("true", "1") and block.tag not in understood_headers:
            raise SoapRequestError(
                SOAP_MUST_UNDERSTAND,
                f"header block {block.tag} is not understood",
                soap_code="MustUnderstand",
            )
    children = [child for child in body if isinstance(child.tag, str)]
    if len(children) != 1:
        raise SoapRequestError(SOAP_UNKNOWN_OPERATION, f"Body must hold exactly one element, found {len(children)}")
    request = children[0]
    qname = etree.QName(request)
    operation = OPERATION_BY_REQUEST.get(qname.localname) if qname.namespace == B2B_NS else None
    if operation is None:
        raise SoapRequestError(SOAP_UNKNOWN_OPERATION, f"unknown operation element {request.tag}")
    _validate_body(request)
    return SoapRequest(
        operation=operation,
        body_element=request,
        payload_element=_payload_of(request),
        message_domains=tuple(
            (domain.text or "").strip() for domain in request.iterfind(f"{_q('MessageDomains')}/{_q('MessageDomain')}")
        ),
        document_reference_number=_text(request.find(_q("DocumentReferenceNumber"))),
        headers=tuple(headers),
    )


def unwrap_business_document(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The business document in ``data``: ``data`` itself when it is a bare document, otherwise the payload of
    a SOAP 1.2 envelope (a send/process request or a peek/process response). Raises ``XmlInputError`` for
    unparseable input and ``SoapRequestError`` for an envelope without a payload. A document whose start tag
    plainly names another root is returned without parsing it here: the receive pipeline parses it anyway."""
    if peek_root_name(data) not in (None, "Envelope"):
        return data
    root = parse_xml(data, max_bytes=max_bytes).getroot()
    if root.tag not in (_q("Envelope", SOAP12_NS), _q("Envelope", SOAP11_NS)):
        return data
    body = _body_of(root)
    for operation in body:
        payload = _payload_of(operation) if isinstance(operation.tag, str) else None
        if payload is not None:
            return standalone_document(payload)
    raise SoapRequestError(SOAP_NO_PAYLOAD, "the SOAP envelope carries no business document")


# --- response builders -----------------------------------------------------------------------------------


def send_message_response(document_reference_number: str) -> bytes:
    response = etree.Element(_q("SendMessageResponse"), nsmap={"b2b": B2B_NS})
    etree.SubElement(response, _q("DocumentReferenceNumber")).text = document_reference_number
    return _envelope(response)


def peek_message_response(document_reference_number: str | None, payload: bytes | etree._Element | None) -> bytes:
    """A peek answer with one message, or the empty answer (queue empty) when ``payload`` is None."""
    response = etree.Element(_q("PeekMessageResponse"), nsmap={"b2b": B2B_NS})
    if payload is not None:
        response.append(_response_container(document_reference_number, payload))
    return _envelope(response)


def empty_peek_message_response() -> bytes:
    return peek_message_response(None, None)


def dequeue_message_response() -> bytes:
    return _envelope(etree.Element(_q("DequeueMessageResponse"), nsmap={"b2b": B2B_NS}))


def process_message_response(document_reference_number: str | None, payload: bytes | etree._Element) -> bytes:
    response = etree.Element(_q("ProcessMessageResponse"), nsmap={"b2b": B2B_NS})
    response.append(_response_container(document_reference_number, payload))
    return _envelope(response)


def fault(
    code: FaultCode,
    reason: str,
    error_code: str,
    error_identification: str | None = None,
    error_details: str | None = None,
) -> bytes:
    """A SOAP 1.2 Fault whose Detail is the WSDL's ``CMSFault``."""
    env = etree.Element(_q("Envelope", SOAP12_NS), nsmap={"env": SOAP12_NS})
    fault_element = etree.SubElement(etree.SubElement(env, _q("Body", SOAP12_NS)), _q("Fault", SOAP12_NS))
    code_element = etree.SubElement(fault_element, _q("Code", SOAP12_NS))
    etree.SubElement(code_element, _q("Value", SOAP12_NS)).text = f"env:{code}"
    reason_text = etree.SubElement(etree.SubElement(fault_element, _q("Reason", SOAP12_NS)), _q("Text", SOAP12_NS))
    reason_text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    reason_text.text = reason
    detail = etree.SubElement(fault_element, _q("Detail", SOAP12_NS))
    cms_fault = etree.SubElement(detail, _q("CMSFault"), nsmap={"b2b": B2B_NS})
    etree.SubElement(cms_fault, _q("ErrorCode")).text = error_code
    if error_identification is not None:
        etree.SubElement(cms_fault, _q("ErrorIdentification")).text = error_identification
    if error_details is not None:
        etree.SubElement(cms_fault, _q("ErrorDetails")).text = error_details
    return _serialize(env)


def wsdl_document(location: str) -> bytes:
    """Messages.wsdl with its SOAP 1.2 address pointing at ``location`` (the serving endpoint's own URL)."""
    wsdl = etree.parse(str(WSDL_PATH), etree.XMLParser(no_network=True, resolve_entities=False))
    for address in wsdl.iter("{http://schemas.xmlsoap.org/wsdl/soap12/}address"):
        address.set("location", location)
    return etree.tostring(wsdl, xml_declaration=True, encoding="UTF-8")


def fault_http_status(code: FaultCode) -> int:
    """SOAP 1.2 HTTP binding: a Sender fault is 400, every other fault 500."""
    return 400 if code == "Sender" else 500


# --- request builders (clients, tests, tools) ------------------------------------------------------------


def send_message_request(payload: bytes | etree._Element) -> bytes:
    return _envelope(_request_container("SendMessageRequest", payload))


def process_message_request(payload: bytes | etree._Element) -> bytes:
    return _envelope(_request_container("ProcessMessageRequest", payload))


def peek_message_request(message_domains: Iterable[str] = ()) -> bytes:
    request = etree.Element(_q("PeekMessageRequest"), nsmap={"b2b": B2B_NS})
    domains = list(message_domains)
    if domains:
        container = etree.SubElement(request, _q("MessageDomains"))
        for domain in domains:
            etree.SubElement(container, _q("MessageDomain")).text = domain
    return _envelope(request)


def dequeue_message_request(document_reference_number: str) -> bytes:
    request = etree.Element(_q("DequeueMessageRequest"), nsmap={"b2b": B2B_NS})
    etree.SubElement(request, _q("DocumentReferenceNumber")).text = document_reference_number
    return _envelope(request)


# --- internals -------------------------------------------------------------------------------------------


def _body_of(envelope: etree._Element) -> etree._Element:
    if envelope.tag == _q("Envelope", SOAP11_NS):
        raise SoapRequestError(
            SOAP_VERSION_MISMATCH,
            "SOAP 1.1 envelopes are not supported, use SOAP 1.2",
            soap_code="VersionMismatch",
        )
    if envelope.tag != _q("Envelope", SOAP12_NS):
        if etree.QName(envelope).localname == "Envelope":
            raise SoapRequestError(
                SOAP_VERSION_MISMATCH,
                f"unknown envelope namespace {envelope.tag}",
                soap_code="VersionMismatch",
            )
        raise SoapRequestError(SOAP_NOT_AN_ENVELOPE, f"root element {envelope.tag} is not a SOAP 1.2 Envelope")
    elements = [child for child in envelope if isinstance(child.tag, str)]
    body = elements[-1] if elements else None
    if body is None or body.tag != _q("Body", SOAP12_NS):
        raise SoapRequestError(SOAP_NO_BODY, "the Envelope has no Body as its last element")
    return body


def _headers_of(envelope: etree._Element) -> list[etree._Element]:
    header = envelope.find(_q("Header", SOAP12_NS))
    if header is None:
        return []
    return [block for block in header if isinstance(block.tag, str)]


def _payload_of(operation: etree._Element) -> etree._Element | None:
    payload = operation.find(f"{_q('MessageContainer')}/{_q('Payload')}")
    if payload is None:
        return None
    documents = [child for child in payload if isinstance(child.tag, str)]
    return documents[0] if documents else None


def _text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip()


def _where(line: int | None, column: int | None) -> str | None:
    return None if line is None else f"line {line}, column {column}"


def _request_container(name: str, payload: bytes | etree._Element) -> etree._Element:
    request = etree.Element(_q(name), nsmap={"b2b": B2B_NS})
    container = etree.SubElement(request, _q("MessageContainer"))
    etree.SubElement(container, _q("Payload")).append(_as_element(payload))
    return request


def _response_container(reference: str | None, payload: bytes | etree._Element) -> etree._Element:
    container = etree.Element(_q("MessageContainer"), nsmap={"b2b": B2B_NS})
    if reference is not None:
        etree.SubElement(container, _q("DocumentReferenceNumber")).text = reference
    etree.SubElement(container, _q("Payload")).append(_as_element(payload))
    return container


def _as_element(payload: bytes | etree._Element) -> etree._Element:
    if isinstance(payload, bytes):
        return parse_xml(payload, max_bytes=max(len(payload), 1)).getroot()
    # Appending moves an element; copy so the caller's tree stays intact.
    return _copy(payload)


def _copy(element: etree._Element) -> etree._Element:
    copied = copy.deepcopy(element)
    copied.tail = None
    return copied


def standalone_document(element: etree._Element) -> bytes:
    """Serialise an element taken out of an envelope as a UTF-8 document of its own, without the envelope's
    namespace declarations (declarations of every other namespace in scope are kept)."""
    document = _copy(element)
    envelope_namespaces = {SOAP12_NS, SOAP11_NS, B2B_NS}
    keep = [prefix for prefix, uri in document.nsmap.items() if prefix and uri not in envelope_namespaces]
    etree.cleanup_namespaces(document, keep_ns_prefixes=keep)
    return _serialize(document)


def _envelope(body_content: etree._Element) -> bytes:
    env = etree.Element(_q("Envelope", SOAP12_NS), nsmap={"env": SOAP12_NS})
    etree.SubElement(env, _q("Body", SOAP12_NS)).append(body_content)
    return _serialize(env)


def _serialize(element: etree._Element) -> bytes:
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8")


class _BodySchema:
    """The WSDL's embedded ``urn:cms:b2b:v01`` schema, compiled once per thread (see gateway.xml.schemas for
    why a compiled validator is not shared between threads)."""

    _local = threading.local()

    @classmethod
    def get(cls) -> etree.XMLSchema:
        schema: etree.XMLSchema | None = getattr(cls._local, "schema", None)
        if schema is None:
            wsdl = etree.parse(str(WSDL_PATH), etree.XMLParser(no_network=True, resolve_entities=False))
            types_schema = wsdl.find(f"{{{WSDL_NS}}}types/{{{XSD_NS}}}schema")
            if types_schema is None:
                raise RuntimeError(f"{WSDL_PATH} has no embedded schema")
            schema = etree.XMLSchema(etree.ElementTree(_copy(types_schema)))
            cls._local.schema = schema
        return schema


def _validate_body(request: etree._Element) -> None:
    schema = _BodySchema.get()
    if not schema.validate(request):
        errors = [f"line {error.line}: {error.message}" for error in schema.error_log]  # type: ignore[attr-defined]
        raise SoapRequestError(
            SOAP_INVALID_REQUEST,
            f"{etree.QName(request).localname} does not match the WSDL",
            details="\n".join(errors),
        )
