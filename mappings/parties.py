"""Customer party, address and communication blocks shared by F01, F04 and F06."""

from __future__ import annotations

from typing import Final

from gateway.domain.codes import SCHEME_ISO, SCHEME_NATIONAL, CustomerIdentificationType
from gateway.domain.customer import Communication, Customer, PostalAddress
from gateway.domain.identifiers import CustomerIdentifier, PersonalIdentityCode, customer_id_text
from mappings.common import (
    Element,
    children_by_name,
    optional_bool,
    optional_child,
    optional_text,
    parse_date,
    required_text,
    sub,
    sub_bool,
    sub_nfi,
    sub_opt,
    sub_scheme,
)


def wrap_customer_id(value: str, identification_type: str | None) -> CustomerIdentifier:
    """A personal identity code (AA03) is wrapped so that it never prints in full."""
    if identification_type == CustomerIdentificationType.PERSONAL_IDENTITY_CODE:
        return PersonalIdentityCode(value)
    return value


def parse_address(el: Element) -> PostalAddress:
    g = children_by_name(el)
    return PostalAddress(
        care_of=optional_text(g, "CareOf"),
        street_name=optional_text(g, "StreetName"),
        building_number=optional_text(g, "BuildingNumber"),
        floor=optional_text(g, "FloorIdentification"),
        room=optional_text(g, "RoomIdentification"),
        postcode=optional_text(g, "Postcode"),
        po_box=optional_text(g, "Pobox"),
        city=optional_text(g, "CityName"),
        country_code=optional_text(g, "CountryCode"),
    )


def build_address(parent: Element, ns: str, name: str, address: PostalAddress | None) -> None:
    if address is None:
        return
    a = sub(parent, ns, name)
    sub_opt(a, ns, "CareOf", address.care_of)
    sub_opt(a, ns, "StreetName", address.street_name)
    sub_opt(a, ns, "BuildingNumber", address.building_number)
    sub_opt(a, ns, "FloorIdentification", address.floor)
    sub_opt(a, ns, "RoomIdentification", address.room)
    sub_opt(a, ns, "Postcode", address.postcode)
    sub_opt(a, ns, "Pobox", address.po_box)
    sub_opt(a, ns, "CityName", address.city)
    sub_scheme(a, ns, "CountryCode", address.country_code, SCHEME_ISO)


def parse_communication(el: Element) -> Communication:
    g = children_by_name(el)
    return Communication(channel=optional_text(g, "CommunicationChannel"), value=optional_text(g, "CompleteNumber"))


def build_communications(parent: Element, ns: str, name: str, communications: tuple[Communication, ...]) -> None:
    for c in communications:
        el = sub(parent, ns, name)
        sub_nfi(el, ns, "CommunicationChannel", c.channel)
        sub_opt(el, ns, "CompleteNumber", c.value)


def parse_customer(el: Element, communication_name: str) -> Customer:
    """`ConsumerInvolvedCustomerParty` of F01 (`Communication`) or F04 (`CustomerCommunication`) or F06."""
    g = children_by_name(el)
    id_type = required_text(g, "IdentificationType")
    raw_id = optional_text(g, "Identification")
    address_el = optional_child(g, "ConsumerInvolvedCustomerAddress")
    return Customer(
        identification=wrap_customer_id(raw_id, id_type) if raw_id is not None else None,
        identification_type=id_type,
        customer_type=required_text(g, "CustomerType"),
        customer_subtype=optional_text(g, "CustomerSubType"),
        alternate_identification=optional_text(g, "AlternateIdentification"),
        information_restriction=optional_bool(g, "InformationRestriction"),
        language=optional_text(g, "Language"),
        name=optional_text(g, "Name"),
        given_name=optional_text(g, "GivenName"),
        middle_name=optional_text(g, "MiddleName"),
        family_name=optional_text(g, "FamilyName"),
        date_of_birth=parse_date(optional_text(g, "DateOfBirth")),
        additional_code=optional_text(g, "AdditionalCode"),
        communications=tuple(parse_communication(c) for c in g.get(communication_name, [])),
        address=parse_address(address_el) if address_el is not None else None,
    )


# The customer blocks differ per document type; a field the target type does not carry is left out
# (e.g. an F01 customer's AlternateIdentification when the same customer goes into an F04).
_F01: Final = "F01"
_F04: Final = "F04"
_F06: Final = "F06"


def build_customer(parent: Element, ns: str, customer: Customer, document_type: str) -> None:
    """Write `ConsumerInvolvedCustomerParty` in the schema order of `document_type` (F01, F04 or F06)."""
    full = document_type != _F06
    el = sub(parent, ns, "ConsumerInvolvedCustomerParty")
    if customer.identification is not None:
        sub_scheme(el, ns, "Identification", customer_id_text(customer.identification), SCHEME_NATIONAL)
    sub_nfi(el, ns, "IdentificationType", customer.identification_type)
    sub_nfi(el, ns, "CustomerType", customer.customer_type)
    if full:
        sub_nfi(el, ns, "CustomerSubType", customer.customer_subtype)
    if document_type == _F01:
        sub_opt(el, ns, "AlternateIdentification", customer.alternate_identification)
    if full:
        sub_bool(el, ns, "InformationRestriction", customer.information_restriction)
        sub_scheme(el, ns, "Language", customer.language, SCHEME_ISO)
    sub_opt(el, ns, "Name", customer.name)
    sub_opt(el, ns, "GivenName", customer.given_name)
    sub_opt(el, ns, "MiddleName", customer.middle_name)
    sub_opt(el, ns, "FamilyName", customer.family_name)
    if customer.date_of_birth is not None:
        sub(el, ns, "DateOfBirth", customer.date_of_birth.isoformat())
    if not full:
        return
    sub_opt(el, ns, "AdditionalCode", customer.additional_code)
    build_communications(
        el, ns, "Communication" if document_type == _F01 else "CustomerCommunication", customer.communications
    )
    build_address(el, ns, "ConsumerInvolvedCustomerAddress", customer.address)
