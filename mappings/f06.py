"""F06 `MasterDataContractEventMessage` (agreement end notices, e.g. DH-311-3) ⇄ `F06Message`.
Same root element name as F04, different namespace."""

from __future__ import annotations

from typing import Final

from gateway.domain.agreement import AgreementEndNotice, F06Message
from gateway.domain.codes import SCHEME_EIC, SCHEME_GS1, DocumentType
from mappings.common import (
    DocumentSpec,
    Element,
    children_by_name,
    nested_text,
    optional_child,
    optional_text,
    parse_datetime,
    parse_message,
    required_text,
    serialize,
    start_message,
    sub,
    sub_dt,
    sub_nfi,
    sub_opt,
    sub_scheme,
    sub_wrapped_id,
    transaction,
)
from mappings.parties import build_address, build_customer, parse_address, parse_customer

SPEC: Final = DocumentSpec(
    document_type=DocumentType.F06,
    root_ns="urn:fi:Datahub:mif:masterdata:F06_MasterDataContractEvent:v1",
    elm_ns="urn:fi:Datahub:mif:masterdata:F06_MasterDataContractEvent:elements:v1",
    root_name="MasterDataContractEventMessage",
    wrapper_name="MasterDataContractEvent",
    xsd="masterdata/F06_MasterDataContractEvent.xsd",
)
_E = SPEC.elm_ns


def parse(root: Element) -> F06Message:
    return parse_message(root, _parse_transaction)


def _parse_transaction(txn: Element) -> AgreementEndNotice:
    g = children_by_name(txn)
    contract_el = optional_child(g, "MasterDataContract")
    c = children_by_name(contract_el) if contract_el is not None else {}
    address_el = optional_child(c, "InvoicingAddress")
    return AgreementEndNotice(
        end_of_occurrence=parse_datetime(required_text(g, "EndOfOccurrence")),
        reason=required_text(g, "Reason"),
        accounting_point=nested_text(c, "MeteringPointOfContract"),
        grid_area=nested_text(c, "MeteringGridAreaUsedDomainLocation"),
        agreement_id=optional_text(c, "Identification"),
        contract_type=optional_text(c, "ContractType"),
        invoicing_address=parse_address(address_el) if address_el is not None else None,
        customers=tuple(parse_customer(p, "-") for p in c.get("ConsumerInvolvedCustomerParty", [])),
        description=optional_text(g, "Description"),
        original_business_document_reference=optional_text(g, "OriginalBusinessDocumentReference"),
        original_business_document_sender=optional_text(g, "OriginalBusinessDocumentSender"),
    )


def _contract_fields_set(notice: AgreementEndNotice) -> bool:
    return bool(
        notice.grid_area
        or notice.agreement_id is not None
        or notice.contract_type is not None
        or notice.invoicing_address is not None
        or notice.customers
    )


def build(message: F06Message) -> bytes:
    root, wrapper = start_message(SPEC, message.header, message.context)
    for notice in message.transactions:
        el = transaction(wrapper, SPEC)
        sub_dt(el, _E, "EndOfOccurrence", notice.end_of_occurrence)
        sub_opt(el, _E, "OriginalBusinessDocumentReference", notice.original_business_document_reference)
        sub_scheme(el, _E, "OriginalBusinessDocumentSender", notice.original_business_document_sender, SCHEME_GS1)
        sub_opt(el, _E, "Description", notice.description)
        sub_nfi(el, _E, "Reason", notice.reason)
        if notice.accounting_point is None:
            if _contract_fields_set(notice):
                raise ValueError("an F06 carries contract details only together with its accounting point")
            continue
        c = sub(el, _E, "MasterDataContract")
        sub_opt(c, _E, "Identification", notice.agreement_id)
        sub_opt(c, _E, "ContractType", notice.contract_type)
        build_address(c, _E, "InvoicingAddress", notice.invoicing_address)
        sub_wrapped_id(c, _E, "MeteringPointOfContract", notice.accounting_point, SCHEME_GS1)
        sub_wrapped_id(c, _E, "MeteringGridAreaUsedDomainLocation", notice.grid_area, SCHEME_EIC)
        for customer in notice.customers:
            build_customer(c, _E, customer, "F06")
    return serialize(root)
