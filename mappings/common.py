"""What every Datahub message mapping shares: namespaces, the Header and ProcessEnergyContext,
timestamps, and small element helpers.

Parsers take an already schema-valid tree, so they read by position and tag without re-checking
structure; they skip comments and processing instructions by asking only for elements.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Final, TypeVar, cast

from lxml import etree

from gateway.domain.codes import LIST_AGENCY_NFI, SCHEME_GS1
from gateway.domain.message import DatahubMessage, MessageHeader, ProcessContext

T = TypeVar("T")

HDR_NS: Final = "urn:fi:Datahub:mif:common:HDR_Header:elements:v1"
PEC_NS: Final = "urn:fi:Datahub:mif:common:PEC_ProcessEnergyContext:elements:v1"
WSU_NS: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

Element = etree._Element


@dataclass(frozen=True, slots=True)
class DocumentSpec:
    """Where a document type lives: root namespace and names, element namespace, root XSD."""

    document_type: str
    root_ns: str
    elm_ns: str
    root_name: str
    wrapper_name: str
    xsd: str  # relative to schemas/datahub-2.3.4.0

    @property
    def root_tag(self) -> str:
        return f"{{{self.root_ns}}}{self.root_name}"


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


# ---------------------------------------------------------------- timestamps

_DT_RE: Final = re.compile(r"\s*(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?\s*\Z")


@lru_cache(maxsize=4096)
def parse_datetime(text: str | None) -> datetime:
    """An xsd:dateTime as an aware UTC datetime (fractions below a microsecond are truncated).

    Cached: every series of a bundle repeats the same period Start and End."""
    m = _DT_RE.match(text or "")
    if m is None:
        raise ValueError(f"not a Datahub timestamp: {text!r}")
    year, month, day, hour, minute, second, frac, zone = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    if zone is None or zone == "Z":
        tz: timezone = UTC
    else:
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    value = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz)
    return value.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """UTC with a `Z`, seconds always, microseconds only when present."""
    if value.tzinfo is None:
        raise ValueError("Datahub timestamps must be timezone-aware")
    utc = value.astimezone(UTC)
    if utc.microsecond:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_date(text: str | None) -> date | None:
    """`DateOfBirth`: YYYY-MM-DD, or empty."""
    if not text or not text.strip():
        return None
    return date.fromisoformat(text.strip())


def parse_bool01(text: str | None) -> bool:
    return (text or "").strip() == "1"


def format_bool01(value: bool) -> str:
    return "1" if value else "0"


def format_decimal(value: Decimal) -> str:
    """Plain notation (never an exponent), as xsd:decimal requires."""
    return format(value, "f")


# ---------------------------------------------------------------- reading helpers


def elements(parent: Element) -> Iterator[Element]:
    """Child elements only (no comments or processing instructions)."""
    return parent.iterchildren(tag=etree.Element)


def text_of(el: Element) -> str:
    """Element text; an empty element is the empty string (distinct from an absent element).

    A comment or processing instruction inside a value splits its text; the XSD reads the parts joined, and so
    does this (a leaf's only possible children are such nodes)."""
    if len(el):
        return "".join(cast("Iterator[str]", el.itertext()))  # parsed text is str; the stubs allow bytes
    return el.text or ""


def local_name(el: Element) -> str:
    # "{namespace}name" or "name": a string split, not a QName object per element.
    return str(el.tag).rpartition("}")[2]


def children_by_name(parent: Element) -> dict[str, list[Element]]:
    """Child elements grouped by local name, in document order."""
    out: dict[str, list[Element]] = {}
    for child in elements(parent):
        out.setdefault(local_name(child), []).append(child)
    return out


def optional_text(groups: dict[str, list[Element]], name: str) -> str | None:
    found = groups.get(name)
    return text_of(found[0]) if found else None


def required_text(groups: dict[str, list[Element]], name: str) -> str:
    found = groups.get(name)
    if not found:
        raise ValueError(f"missing element {name}")
    return text_of(found[0])


def optional_child(groups: dict[str, list[Element]], name: str) -> Element | None:
    found = groups.get(name)
    return found[0] if found else None


def nested_text(groups: dict[str, list[Element]], name: str) -> str | None:
    """Text of the single child of element `name` (e.g. `MeteringPointOfContract/Identification`)."""
    found = groups.get(name)
    if not found:
        return None
    inner = next(elements(found[0]), None)
    return text_of(inner) if inner is not None else None


def optional_datetime(groups: dict[str, list[Element]], name: str) -> datetime | None:
    value = optional_text(groups, name)
    return parse_datetime(value) if value is not None else None


def optional_bool(groups: dict[str, list[Element]], name: str) -> bool | None:
    value = optional_text(groups, name)
    return parse_bool01(value) if value is not None else None


# ---------------------------------------------------------------- writing helpers


def sub(parent: Element, ns: str, name: str, text: str | None = None, **attrib: str) -> Element:
    el = etree.SubElement(parent, _q(ns, name), attrib or None)
    if text is not None:
        el.text = text
    return el


def sub_opt(parent: Element, ns: str, name: str, text: str | None, **attrib: str) -> None:
    """Write the element only when the value is present."""
    if text is not None:
        sub(parent, ns, name, text, **attrib)


def sub_nfi(parent: Element, ns: str, name: str, code: str | None) -> None:
    """A code element carrying `listAgencyIdentifier="NFI"`, when the code is present."""
    if code is not None:
        sub(parent, ns, name, code, listAgencyIdentifier=LIST_AGENCY_NFI)


def sub_scheme(parent: Element, ns: str, name: str, value: str | None, scheme: str) -> None:
    """An identification carrying `schemeAgencyIdentifier`, when the value is present."""
    if value is not None:
        sub(parent, ns, name, value, schemeAgencyIdentifier=scheme)


def sub_wrapped_id(parent: Element, ns: str, name: str, value: str | None, scheme: str) -> None:
    """`<name><Identification schemeAgencyIdentifier=…>value</Identification></name>` when present."""
    if value is not None:
        outer = sub(parent, ns, name)
        sub(outer, ns, "Identification", value, schemeAgencyIdentifier=scheme)


def sub_dt(parent: Element, ns: str, name: str, value: datetime | None) -> None:
    if value is not None:
        sub(parent, ns, name, format_datetime(value))


def sub_bool(parent: Element, ns: str, name: str, value: bool | None) -> None:
    if value is not None:
        sub(parent, ns, name, format_bool01(value))


def new_message(spec: DocumentSpec) -> tuple[Element, Element]:
    """An empty message root and its wrapper element (no schemaLocation, ever)."""
    nsmap = {"rsm": spec.root_ns, "hdr": HDR_NS, "pec": PEC_NS, "elm": spec.elm_ns}
    root = etree.Element(spec.root_tag, nsmap=nsmap)
    wrapper = sub(root, spec.root_ns, spec.wrapper_name)
    return root, wrapper


def serialize(root: Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# ---------------------------------------------------------------- message envelope


def message_parts(root: Element) -> tuple[Element, Element, list[Element]]:
    """(Header, ProcessEnergyContext, [Transaction …]) of a message root."""
    wrapper = next(elements(root))
    children = list(elements(wrapper))
    return children[0], children[1], children[2:]


def parse_message(root: Element, parse_transaction: Callable[[Element], T]) -> DatahubMessage[T]:
    """Header, process context and every transaction of a message, the transactions by `parse_transaction`."""
    header_el, context_el, transaction_els = message_parts(root)
    return DatahubMessage(
        header=parse_header(header_el),
        context=parse_context(context_el),
        transactions=tuple(parse_transaction(t) for t in transaction_els),
    )


def _party(el: Element) -> str:
    return text_of(next(elements(el)))


def parse_header(el: Element) -> MessageHeader:
    g = children_by_name(el)
    registration = optional_text(g, "RegistrationTimestamp")
    return MessageHeader(
        message_id=required_text(g, "Identification"),
        document_type=required_text(g, "DocumentType"),
        creation=parse_datetime(required_text(g, "Creation")),
        physical_sender=_party(g["PhysicalSenderEnergyParty"][0]),
        juridical_sender=_party(g["JuridicalSenderEnergyParty"][0]),
        juridical_recipient=_party(g["JuridicalRecipientEnergyParty"][0]),
        physical_recipient=_party(g["PhysicalRecipientEnergyParty"][0]),
        sender_routing_information=optional_text(g, "SenderRoutingInformation"),
        original_business_document_reference=optional_text(g, "OriginalBusinessDocumentReference"),
        registration_timestamp=parse_datetime(registration) if registration is not None else None,
    )


def build_header(wrapper: Element, spec: DocumentSpec, header: MessageHeader) -> None:
    el = sub(wrapper, spec.root_ns, "Header")
    sub(el, HDR_NS, "Identification", header.message_id)
    sub(el, HDR_NS, "DocumentType", header.document_type)
    sub(el, HDR_NS, "Creation", format_datetime(header.creation))
    sub_wrapped_id(el, HDR_NS, "PhysicalSenderEnergyParty", header.physical_sender, SCHEME_GS1)
    sub_wrapped_id(el, HDR_NS, "JuridicalSenderEnergyParty", header.juridical_sender, SCHEME_GS1)
    sub_wrapped_id(el, HDR_NS, "JuridicalRecipientEnergyParty", header.juridical_recipient, SCHEME_GS1)
    sub_wrapped_id(el, HDR_NS, "PhysicalRecipientEnergyParty", header.physical_recipient, SCHEME_GS1)
    sub_opt(el, HDR_NS, "SenderRoutingInformation", header.sender_routing_information)
    sub_opt(el, HDR_NS, "OriginalBusinessDocumentReference", header.original_business_document_reference)
    sub_dt(el, HDR_NS, "RegistrationTimestamp", header.registration_timestamp)


def parse_context(el: Element) -> ProcessContext:
    process, role, industry = (text_of(c) for c in elements(el))
    return ProcessContext(business_process=process, role=role, industry_classification=industry)


def build_context(wrapper: Element, spec: DocumentSpec, context: ProcessContext) -> None:
    el = sub(wrapper, spec.root_ns, "ProcessEnergyContext")
    sub(el, PEC_NS, "EnergyBusinessProcess", context.business_process)
    sub(el, PEC_NS, "EnergyBusinessProcessRole", context.role)
    sub(el, PEC_NS, "EnergyIndustryClassification", context.industry_classification)


def start_message(spec: DocumentSpec, header: MessageHeader, context: ProcessContext) -> tuple[Element, Element]:
    """Root + wrapper with Header and ProcessEnergyContext written; append transactions to the wrapper."""
    root, wrapper = new_message(spec)
    build_header(wrapper, spec, header)
    build_context(wrapper, spec, context)
    return root, wrapper


def transaction(wrapper: Element, spec: DocumentSpec) -> Element:
    return sub(wrapper, spec.root_ns, "Transaction")


def all_texts(els: Iterable[Element]) -> tuple[str, ...]:
    return tuple(text_of(e) for e in els)
