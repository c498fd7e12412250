"""F01 `MasterDataCustomerEventMessage` (customer information, DH-111..113) ⇄ `F01Message`."""

from __future__ import annotations

from typing import Final

from gateway.domain.codes import DocumentType
from gateway.domain.customer import CustomerEvent, F01Message
from mappings.common import (
    DocumentSpec,
    Element,
    children_by_name,
    optional_text,
    parse_datetime,
    parse_message,
    required_text,
    serialize,
    start_message,
    sub_dt,
    sub_opt,
    transaction,
)
from mappings.parties import build_customer, parse_customer

SPEC: Final = DocumentSpec(
    document_type=DocumentType.F01,
    root_ns="urn:fi:Datahub:mif:masterdata:F01_MasterDataCustomerEvent:v1",
    elm_ns="urn:fi:Datahub:mif:masterdata:F01_MasterDataCustomerEvent:elements:v1",
    root_name="MasterDataCustomerEventMessage",
    wrapper_name="MasterDataCustomerEvent",
    xsd="masterdata/F01_MasterDataCustomerEvent.xsd",
)
_E = SPEC.elm_ns


def parse(root: Element) -> F01Message:
    return parse_message(root, _parse_transaction)


def _parse_transaction(txn: Element) -> CustomerEvent:
    g = children_by_name(txn)
    return CustomerEvent(
        start_of_occurrence=parse_datetime(required_text(g, "StartOfOccurrence")),
        customer=parse_customer(g["ConsumerInvolvedCustomerParty"][0], "Communication"),
        description=optional_text(g, "Description"),
        original_business_document_reference=optional_text(g, "OriginalBusinessDocumentReference"),
    )


def build(message: F01Message) -> bytes:
    root, wrapper = start_message(SPEC, message.header, message.context)
    for event in message.transactions:
        el = transaction(wrapper, SPEC)
        sub_dt(el, _E, "StartOfOccurrence", event.start_of_occurrence)
        sub_opt(el, _E, "OriginalBusinessDocumentReference", event.original_business_document_reference)
        sub_opt(el, _E, "Description", event.description)
        build_customer(el, _E, event.customer, "F01")
    return serialize(root)
