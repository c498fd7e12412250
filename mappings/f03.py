"""F03 `RequestMPInfoMessage` (accounting point info request, DH-132..135) ⇄ `F03Message`."""

from __future__ import annotations

from typing import Final

from gateway.domain.codes import SCHEME_GS1, SCHEME_NATIONAL, DocumentType
from gateway.domain.identifiers import PersonalIdentityCode, customer_id_text
from gateway.domain.message import DatahubMessage
from gateway.domain.requests import AccountingPointInfoRequest, F03Message
from mappings.common import (
    DocumentSpec,
    Element,
    children_by_name,
    elements,
    message_parts,
    optional_datetime,
    parse_context,
    parse_header,
    required_text,
    serialize,
    start_message,
    sub,
    sub_dt,
    sub_scheme,
    text_of,
    transaction,
)

SPEC: Final = DocumentSpec(
    document_type=DocumentType.F03,
    root_ns="urn:fi:Datahub:mif:query:F03_RequestMPInfo:v1",
    elm_ns="urn:fi:Datahub:mif:query:F03_RequestMPInfo:elements:v1",
    root_name="RequestMPInfoMessage",
    wrapper_name="RequestMPInfo",
    xsd="query/F03_RequestMPInfo.xsd",
)
_E = SPEC.elm_ns


def _customer_id(value: str) -> str | PersonalIdentityCode:
    # F03 names no identification type; anything shaped like a personal identity code is masked.
    candidate = PersonalIdentityCode(value)
    return candidate if candidate.is_valid() else value


def parse(root: Element) -> F03Message:
    header_el, context_el, transaction_els = message_parts(root)
    requests = []
    for txn in transaction_els:
        g = children_by_name(txn)
        requests.append(
            AccountingPointInfoRequest(
                accounting_point=required_text(g, "IdentificationMP"),
                start_of_occurrence=optional_datetime(g, "StartOfOccurrence"),
                customers=tuple(_customer_id(text_of(next(elements(c)))) for c in g.get("MPCustomer", [])),
            )
        )
    return DatahubMessage(parse_header(header_el), parse_context(context_el), tuple(requests))


def build(message: F03Message) -> bytes:
    root, wrapper = start_message(SPEC, message.header, message.context)
    for request in message.transactions:
        el = transaction(wrapper, SPEC)
        sub_dt(el, _E, "StartOfOccurrence", request.start_of_occurrence)
        sub_scheme(el, _E, "IdentificationMP", request.accounting_point, SCHEME_GS1)
        for customer in request.customers:
            c = sub(el, _E, "MPCustomer")
            sub_scheme(c, _E, "Identification", customer_id_text(customer), SCHEME_NATIONAL)
    return serialize(root)
