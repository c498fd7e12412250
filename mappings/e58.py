"""E58 `MasterDataMPEventMessage` (accounting point master data, DH-121..127) ⇄ `E58Message`."""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from gateway.domain.codes import SCHEME_EIC, SCHEME_GS1, SCHEME_ISO, DocumentType
from gateway.domain.masterdata import AccountingPointAddress, AccountingPointMasterData, E58Message
from mappings.common import (
    DocumentSpec,
    Element,
    children_by_name,
    format_decimal,
    nested_text,
    optional_bool,
    optional_child,
    optional_text,
    parse_datetime,
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
    transaction,
)

SPEC: Final = DocumentSpec(
    document_type=DocumentType.E58,
    root_ns="urn:fi:Datahub:mif:masterdata:E58_MasterDataMPEvent:v1",
    elm_ns="urn:fi:Datahub:mif:masterdata:E58_MasterDataMPEvent:elements:v1",
    root_name="MasterDataMPEventMessage",
    wrapper_name="MasterDataMPEvent",
    xsd="masterdata/E58_MasterDataMPEvent.xsd",
)
_E = SPEC.elm_ns


def parse(root: Element) -> E58Message:
    return parse_message(root, _parse_transaction)


def _parse_address(el: Element) -> AccountingPointAddress:
    g = children_by_name(el)
    return AccountingPointAddress(
        address_type=required_text(g, "Type"),
        street_name=optional_text(g, "StreetName"),
        building_number=optional_text(g, "BuildingNumber"),
        floor=optional_text(g, "FloorIdentification"),
        room=optional_text(g, "RoomIdentification"),
        postcode=optional_text(g, "Postcode"),
        city=optional_text(g, "CityName"),
        country_code=optional_text(g, "CountryCode"),
        free_form=optional_text(g, "AddressFreeForm"),
        language=optional_text(g, "Language"),
    )


def _parse_transaction(txn: Element) -> AccountingPointMasterData:
    t = children_by_name(txn)
    mp = children_by_name(t["MeteringPointUsedDomainLocation"][0])
    detail_el = optional_child(mp, "MPDetailMeteringPointCharacteristic")
    d = children_by_name(detail_el) if detail_el is not None else {}
    capacity = optional_text(d, "ContractedConnectionCapacity")
    return AccountingPointMasterData(
        accounting_point=required_text(mp, "Identification"),
        start_of_occurrence=parse_datetime(required_text(t, "StartOfOccurrence")),
        grid_area=nested_text(mp, "MeteringGridAreaUsedDomainLocation") or "",
        physical_status=optional_text(mp, "PhysicalStatusType"),
        accounting_point_type=optional_text(mp, "MeteringPointType"),
        accounting_point_subtype=optional_text(mp, "MeteringPointSubType"),
        remote_connectable=optional_bool(mp, "RemoteConnectable"),
        metering_time_division=optional_text(mp, "MeteringTimeDivision"),
        meter_identification=optional_text(mp, "MeterIdentification"),
        related_accounting_point=optional_text(mp, "RelatedMeteringPoint"),
        netting=optional_bool(mp, "Netting"),
        addresses=tuple(_parse_address(a) for a in mp.get("MeteringPointAddress", [])),
        remote_readable=optional_bool(d, "RemoteReadable"),
        metering_method=optional_text(d, "MeteringMethod"),
        resolution=optional_text(d, "ResolutionDuration"),
        user_group=optional_text(d, "UserGroup"),
        heating_method=optional_text(d, "HeatingMethodType"),
        fuse_size=optional_text(d, "FuseSize"),
        contracted_connection_capacity=Decimal(capacity) if capacity is not None else None,
        tax_category=optional_text(d, "TaxCategory"),
        update_reason=optional_text(t, "UpdateReason"),
        description=optional_text(t, "Description"),
        original_business_document_reference=optional_text(t, "OriginalBusinessDocumentReference"),
        original_business_document_sender=optional_text(t, "OriginalBusinessDocumentSender"),
    )


_DETAIL_FIELDS: Final = (
    "remote_readable",
    "metering_method",
    "resolution",
    "user_group",
    "heating_method",
    "fuse_size",
    "contracted_connection_capacity",
    "tax_category",
)


def build(message: E58Message) -> bytes:
    root, wrapper = start_message(SPEC, message.header, message.context)
    for txn in message.transactions:
        _build_transaction(transaction(wrapper, SPEC), txn)
    return serialize(root)


def _build_transaction(el: Element, txn: AccountingPointMasterData) -> None:
    sub_dt(el, _E, "StartOfOccurrence", txn.start_of_occurrence)
    sub_opt(el, _E, "OriginalBusinessDocumentReference", txn.original_business_document_reference)
    sub_scheme(el, _E, "OriginalBusinessDocumentSender", txn.original_business_document_sender, SCHEME_GS1)
    sub_nfi(el, _E, "UpdateReason", txn.update_reason)
    sub_opt(el, _E, "Description", txn.description)
    mp = sub(el, _E, "MeteringPointUsedDomainLocation")
    sub_scheme(mp, _E, "Identification", txn.accounting_point, SCHEME_GS1)
    sub_nfi(mp, _E, "PhysicalStatusType", txn.physical_status)
    sub_nfi(mp, _E, "MeteringPointType", txn.accounting_point_type)
    sub_nfi(mp, _E, "MeteringPointSubType", txn.accounting_point_subtype)
    sub_bool(mp, _E, "RemoteConnectable", txn.remote_connectable)
    sub_opt(mp, _E, "MeteringTimeDivision", txn.metering_time_division)
    sub_opt(mp, _E, "MeterIdentification", txn.meter_identification)
    sub_scheme(mp, _E, "RelatedMeteringPoint", txn.related_accounting_point, SCHEME_GS1)
    sub_bool(mp, _E, "Netting", txn.netting)
    sub_wrapped_id(mp, _E, "MeteringGridAreaUsedDomainLocation", txn.grid_area, SCHEME_EIC)
    for address in txn.addresses:
        a = sub(mp, _E, "MeteringPointAddress")
        sub_nfi(a, _E, "Type", address.address_type)
        sub_opt(a, _E, "StreetName", address.street_name)
        sub_opt(a, _E, "BuildingNumber", address.building_number)
        sub_opt(a, _E, "FloorIdentification", address.floor)
        sub_opt(a, _E, "RoomIdentification", address.room)
        sub_opt(a, _E, "Postcode", address.postcode)
        sub_opt(a, _E, "CityName", address.city)
        sub_scheme(a, _E, "CountryCode", address.country_code, SCHEME_ISO)
        sub_opt(a, _E, "AddressFreeForm", address.free_form)
        sub_scheme(a, _E, "Language", address.language, SCHEME_ISO)
    if any(getattr(txn, f) is not None for f in _DETAIL_FIELDS):
        d = sub(mp, _E, "MPDetailMeteringPointCharacteristic")
        sub_bool(d, _E, "RemoteReadable", txn.remote_readable)
        sub_opt(d, _E, "MeteringMethod", txn.metering_method)
        sub_opt(d, _E, "ResolutionDuration", txn.resolution)
        sub_opt(d, _E, "UserGroup", txn.user_group)
        sub_opt(d, _E, "HeatingMethodType", txn.heating_method)
        sub_opt(d, _E, "FuseSize", txn.fuse_size)
        if txn.contracted_connection_capacity is not None:
            sub(d, _E, "ContractedConnectionCapacity", format_decimal(txn.contracted_connection_capacity))
        sub_opt(d, _E, "TaxCategory", txn.tax_category)
