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
import re
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
SOAP_INVALID_ENVELOPE: Final = "SOAP.INVALID_ENVELOPE"
SOAP_MORE_THAN_ONE_MESSAGE: Final = "SOAP.MORE_THAN_ONE_MESSAGE"


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
    payload = _payload_of(request)  # first: a second message gets its own code, not the WSDL's complaint
    _validate_body(request)
    return SoapRequest(
        operation=operation,
        body_element=request,
        payload_element=payload,
        message_domains=tuple(
            (domain.text or "").strip() for domain in request.iterfind(f"{_q('MessageDomains')}/{_q('MessageDomain')}")
        ),
        document_reference_number=_text(request.find(_q("DocumentReferenceNumber"))),
        headers=tuple(headers),
    )


def unwrap_business_document(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The business document in ``data``: ``data`` itself when it is a bare document, otherwise the payload of
    a SOAP 1.2 envelope, as a document of its own (see ``business_document``). Raises ``XmlInputError`` for
    unparseable input and ``SoapRequestError`` for an envelope without exactly one payload. A document whose
    start tag plainly names another root is returned without parsing it here."""
    if peek_root_name(data) not in (None, "Envelope"):
        return data
    root = parse_xml(data, max_bytes=max_bytes).getroot()
    if not is_envelope(root):
        return data
    return standalone_document(business_document(root))


def is_envelope_bytes(data: bytes) -> bool:
    """Whether `data` looks like a SOAP envelope from its first start tag, without parsing it."""
    return peek_root_name(data) == "Envelope"


def is_envelope(root: etree._Element) -> bool:
    """Whether `root` is a SOAP envelope (of any version: ``business_document`` refuses the wrong one)."""
    return isinstance(root.tag, str) and etree.QName(root).localname == "Envelope"


def business_document(envelope: etree._Element) -> etree._Element:
    """The one business document a SOAP 1.2 envelope carries (a send/process request or a peek/process response):
    exactly one Body, holding exactly one element, with exactly one MessageContainer whose Payload holds exactly
    one document. Anything else raises ``SoapRequestError``: a second message must never be dropped silently."""
    body = _body_of(envelope)
    operations = [child for child in body if isinstance(child.tag, str)]
    if len(operations) != 1:
        raise SoapRequestError(SOAP_UNKNOWN_OPERATION, f"Body must hold exactly one element, found {len(operations)}")
    payload = _payload_of(operations[0])
    if payload is None:
        raise SoapRequestError(SOAP_NO_PAYLOAD, "the SOAP envelope carries no business document")
    return payload


# A start tag from its "<" to its ">" (attribute values may hold ">", never "<"); possessive: no backtracking.
_START_TAG: Final = re.compile(rb"""<[^\s/>]++(?:\s++[^\s=/>]++\s*+=\s*+(?:"[^"]*+"|'[^']*+'))*+\s*+/?>""")
_MARKUP: Final = re.compile(rb"<(?:!--|!\[CDATA\[|\?|/|!)?")
_MARKUP_END: Final = {b"<!--": b"-->", b"<![CDATA[": b"]]>", b"<?": b"?>", b"</": b">", b"<!": b">"}


def offset_of(data: bytes, element: etree._Element) -> int:
    """Where `element`'s start tag begins in `data`, the bytes its tree was parsed from (a payload's place in the
    envelope as received): the start tags are counted in document order, skipping comments, CDATA sections and
    processing instructions."""
    index = next(i for i, e in enumerate(element.getroottree().getroot().iter(etree.Element)) if e is element)
    position, seen = 0, -1
    while (markup := _MARKUP.search(data, position)) is not None:
        token = markup.group()
        if token == b"<":
            seen += 1
            if seen == index:
                return markup.start()
            tag = _START_TAG.match(data, markup.start())
            if tag is None:
                break
            position = tag.end()
            continue
        end = data.find(_MARKUP_END[token], markup.end())
        if end < 0:
            break
        position = end + len(_MARKUP_END[token])
    raise ValueError("the element's start tag is not in these bytes")


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
    bodies = [e for e in elements if e.tag == _q("Body", SOAP12_NS)]
    if not bodies:
        raise SoapRequestError(SOAP_NO_BODY, "the Envelope has no Body")
    if len(bodies) > 1:
        raise SoapRequestError(SOAP_INVALID_ENVELOPE,
                               f"the Envelope holds {len(bodies)} Body elements; exactly one is allowed")
    headers = [e for e in elements if e.tag == _q("Header", SOAP12_NS)]
    if elements != [*headers[:1], bodies[0]] or len(headers) > 1:
        raise SoapRequestError(SOAP_INVALID_ENVELOPE,
                               "an Envelope holds an optional Header and then its Body, and nothing else")
    return bodies[0]


def _headers_of(envelope: etree._Element) -> list[etree._Element]:
    header = envelope.find(_q("Header", SOAP12_NS))
    if header is None:
        return []
    return [block for block in header if isinstance(block.tag, str)]


def _payload_of(operation: etree._Element) -> etree._Element | None:
    """The business document of a request or response: None without one, SoapRequestError for more than one."""
    containers = operation.findall(_q("MessageContainer"))
    payloads = [p for c in containers for p in c.findall(_q("Payload"))]
    documents = [child for p in payloads for child in p if isinstance(child.tag, str)]
    if len(containers) > 1 or len(payloads) > 1 or len(documents) > 1:
        raise SoapRequestError(
            SOAP_MORE_THAN_ONE_MESSAGE,
            f"{etree.QName(operation).localname} carries {len(containers)} MessageContainer(s) with {len(documents)} "
            "document(s); exactly one message per request")
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
