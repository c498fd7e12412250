"""F04 `MasterDataContractEventMessage` (sales agreement events, DH-311-1, 312-1, 321-1, 322-1)
⇄ `F04Message`. Shares its root element name with F06; the namespace tells them apart."""

from __future__ import annotations

from typing import Final

from gateway.domain.agreement import (
    AgreementContact,
    AgreementDetails,
    ElectronicInvoiceAddress,
    F04Message,
    NoticePeriod,
    OtherInvoicingAddress,
    SalesAgreementEvent,
)
from gateway.domain.codes import SCHEME_EIC, SCHEME_GS1, DocumentType
from mappings.common import (
    DocumentSpec,
    Element,
    children_by_name,
    nested_text,
    optional_bool,
    optional_child,
    optional_datetime,
    optional_text,
    parse_bool01,
    parse_message,
    required_text,
    serialize,
    start_message,
    sub,
    sub_bool,
    sub_dt,
    sub_nfi,
    sub_opt,
    sub_scheme,
    sub_wrapped_id,
    text_of,
    transaction,
)
from mappings.parties import (
    build_address,
    build_communications,
    build_customer,
    parse_address,
    parse_communication,
    parse_customer,
)

SPEC: Final = DocumentSpec(
    document_type=DocumentType.F04,
    root_ns="urn:fi:Datahub:mif:masterdata:F04_MasterDataContractEvent:v1",
    elm_ns="urn:fi:Datahub:mif:masterdata:F04_MasterDataContractEvent:elements:v1",
    root_name="MasterDataContractEventMessage",
    wrapper_name="MasterDataContractEvent",
    xsd="masterdata/F04_MasterDataContractEvent.xsd",
)
_E = SPEC.elm_ns


def parse(root: Element) -> F04Message:
    return parse_message(root, _parse_transaction)


def _parse_contact(el: Element) -> AgreementContact:
    g = children_by_name(el)
    return AgreementContact(
        contact_type=required_text(g, "ContactType"),
        given_name=optional_text(g, "GivenName"),
        family_name=optional_text(g, "FamilyName"),
        name=optional_text(g, "Name"),
        communications=tuple(parse_communication(c) for c in g.get("ContractCommunication", [])),
    )


def _parse_agreement(el: Element) -> AgreementDetails:
    g = children_by_name(el)
    notice_el = optional_child(g, "NoticePeriod")
    notice = None
    if notice_el is not None:
        n = children_by_name(notice_el)
        notice = NoticePeriod(start=optional_datetime(n, "NoticeStart"), end=optional_datetime(n, "NoticeEnd"))
    e_invoice_el = optional_child(g, "ElectronicInvoiceAddressDetails")
    e_invoice = None
    if e_invoice_el is not None:
        e = children_by_name(e_invoice_el)
        e_invoice = ElectronicInvoiceAddress(
            address=required_text(e, "ElectronicInvoiceAddress"),
            router=required_text(e, "ElectronicInvoiceRouter"),
            target_id=optional_text(e, "ElectronicInvoiceTargetId"),
        )
    other_el = optional_child(g, "OtherInvoicingAddresses")
    other = None
    if other_el is not None:
        o = children_by_name(other_el)
        other = OtherInvoicingAddress(address_type=required_text(o, "AddressType"), address=required_text(o, "Address"))
    invoicing_address_el = optional_child(g, "InvoicingAddress")
    notice_days = optional_text(g, "NoticeDays")
    return AgreementDetails(
        contact_type=required_text(g, "ContactType"),
        agreement_id=required_text(g, "Identification"),
        contract_type=required_text(g, "ContractType"),
        invoicing_method=required_text(g, "InvoicingMethod"),
        priority=parse_bool01(required_text(g, "Priority")),
        invoicing_channel=required_text(g, "InvoicingChannel"),
        delivery_contract=optional_bool(g, "DeliveryContract"),
        time_limited=optional_bool(g, "TimeLimited"),
        fixed_contract_start=optional_datetime(g, "FixedContractStart"),
        fixed_contract_end=optional_datetime(g, "FixedContractEnd"),
        notice_basis=optional_bool(g, "NoticeBasis"),
        notice_days=int(notice_days) if notice_days is not None else None,
        notice_period=notice,
        tax_category=optional_text(g, "TaxCategory"),
        product_codes=tuple(text_of(next(p.iterchildren())) for p in g.get("ProductData", [])),
        customer_note=optional_text(g, "CustomerNote"),
        contacts=tuple(_parse_contact(c) for c in g.get("Contact", [])),
        invoicing_address=parse_address(invoicing_address_el) if invoicing_address_el is not None else None,
        electronic_invoice=e_invoice,
        other_invoicing_address=other,
        supplier=nested_text(g, "SupplierOfContract"),
        customers=tuple(parse_customer(c, "CustomerCommunication") for c in g.get("ConsumerInvolvedCustomerParty", [])),
    )


def _parse_transaction(txn: Element) -> SalesAgreementEvent:
    g = children_by_name(txn)
    agreement_el = optional_child(g, "MasterDataContract")
    return SalesAgreementEvent(
        accounting_point=nested_text(g, "MeteringPointOfContract") or "",
        grid_area=nested_text(g, "MeteringGridAreaUsedDomainLocation") or "",
        start_of_occurrence=optional_datetime(g, "StartOfOccurrence"),
        end_of_occurrence=optional_datetime(g, "EndOfOccurrence"),
        agreement=_parse_agreement(agreement_el) if agreement_el is not None else None,
        transfer_contract_needed=optional_bool(g, "TransferContractNeeded"),
        contract_reason=optional_text(g, "ContractReason"),
        contract_confirm=optional_bool(g, "ContractConfirm"),
        description=optional_text(g, "Description"),
        original_business_document_reference=optional_text(g, "OriginalBusinessDocumentReference"),
        original_business_document_sender=optional_text(g, "OriginalBusinessDocumentSender"),
    )


def build(message: F04Message) -> bytes:
    root, wrapper = start_message(SPEC, message.header, message.context)
    for event in message.transactions:
        _build_transaction(transaction(wrapper, SPEC), event)
    return serialize(root)


def _build_transaction(el: Element, event: SalesAgreementEvent) -> None:
    sub_dt(el, _E, "StartOfOccurrence", event.start_of_occurrence)
    sub_dt(el, _E, "EndOfOccurrence", event.end_of_occurrence)
    sub_opt(el, _E, "OriginalBusinessDocumentReference", event.original_business_document_reference)
    sub_scheme(el, _E, "OriginalBusinessDocumentSender", event.original_business_document_sender, SCHEME_GS1)
    sub_opt(el, _E, "Description", event.description)
    sub_bool(el, _E, "TransferContractNeeded", event.transfer_contract_needed)
    sub_nfi(el, _E, "ContractReason", event.contract_reason)
    sub_bool(el, _E, "ContractConfirm", event.contract_confirm)
    sub_wrapped_id(el, _E, "MeteringPointOfContract", event.accounting_point, SCHEME_GS1)
    sub_wrapped_id(el, _E, "MeteringGridAreaUsedDomainLocation", event.grid_area, SCHEME_EIC)
    if event.agreement is not None:
        _build_agreement(sub(el, _E, "MasterDataContract"), event.agreement)


def _build_agreement(el: Element, a: AgreementDetails) -> None:
    sub_nfi(el, _E, "ContactType", a.contact_type)
    sub(el, _E, "Identification", a.agreement_id)
    sub(el, _E, "ContractType", a.contract_type)
    sub_bool(el, _E, "DeliveryContract", a.delivery_contract)
    sub_bool(el, _E, "TimeLimited", a.time_limited)
    sub_dt(el, _E, "FixedContractStart", a.fixed_contract_start)
    sub_dt(el, _E, "FixedContractEnd", a.fixed_contract_end)
    sub_nfi(el, _E, "InvoicingMethod", a.invoicing_method)
    sub_bool(el, _E, "NoticeBasis", a.notice_basis)
    if a.notice_days is not None:
        sub(el, _E, "NoticeDays", str(a.notice_days))
    if a.notice_period is not None:
        n = sub(el, _E, "NoticePeriod")
        sub_dt(n, _E, "NoticeStart", a.notice_period.start)
        sub_dt(n, _E, "NoticeEnd", a.notice_period.end)
    sub_bool(el, _E, "Priority", a.priority)
    sub_nfi(el, _E, "InvoicingChannel", a.invoicing_channel)
    sub_opt(el, _E, "TaxCategory", a.tax_category)
    for code in a.product_codes:
        sub(sub(el, _E, "ProductData"), _E, "ProductCode", code)
    sub_opt(el, _E, "CustomerNote", a.customer_note)
    for contact in a.contacts:
        c = sub(el, _E, "Contact")
        sub_nfi(c, _E, "ContactType", contact.contact_type)
        sub_opt(c, _E, "GivenName", contact.given_name)
        sub_opt(c, _E, "FamilyName", contact.family_name)
        sub_opt(c, _E, "Name", contact.name)
        build_communications(c, _E, "ContractCommunication", contact.communications)
    build_address(el, _E, "InvoicingAddress", a.invoicing_address)
    if a.electronic_invoice is not None:
        e = sub(el, _E, "ElectronicInvoiceAddressDetails")
        sub_opt(e, _E, "ElectronicInvoiceTargetId", a.electronic_invoice.target_id)
        sub(e, _E, "ElectronicInvoiceAddress", a.electronic_invoice.address)
        sub(e, _E, "ElectronicInvoiceRouter", a.electronic_invoice.router)
    if a.other_invoicing_address is not None:
        o = sub(el, _E, "OtherInvoicingAddresses")
        sub_nfi(o, _E, "AddressType", a.other_invoicing_address.address_type)
        sub(o, _E, "Address", a.other_invoicing_address.address)
    sub_wrapped_id(el, _E, "SupplierOfContract", a.supplier, SCHEME_GS1)
    for customer in a.customers:
        build_customer(el, _E, customer, "F04")
