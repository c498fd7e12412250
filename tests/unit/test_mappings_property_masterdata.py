"""Property: any E58, F01 or F04 the schema allows — every combination of optional fields, any text —
round-trips domain → XML (XSD-valid) → domain unchanged. Catches builders writing optional elements
out of schema order, which fixed fixtures cannot."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.domain.agreement import (
    AgreementContact,
    AgreementDetails,
    ElectronicInvoiceAddress,
    NoticePeriod,
    OtherInvoicingAddress,
    SalesAgreementEvent,
)
from gateway.domain.customer import Communication, Customer, CustomerEvent, PostalAddress
from gateway.domain.identifiers import PersonalIdentityCode
from gateway.domain.masterdata import AccountingPointAddress, AccountingPointMasterData
from gateway.domain.message import DatahubMessage, MessageHeader, ProcessContext
from mappings import e58, f01, f04
from mappings.registry import SCHEMA_ROOT
from mappings.samples import DATAHUB_GLN, GRID_AREA, OUR_SUPPLIER_GLN, gsrn

CHARS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))


def text(max_size: int, min_size: int = 1) -> st.SearchStrategy[str]:
    return st.text(alphabet=CHARS, min_size=min_size, max_size=max_size)


def opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


instants = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC))
flags = opt(st.booleans())
code = st.sampled_from


@cache
def schema(xsd: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_ROOT / xsd)))


def header(document_type: str) -> MessageHeader:
    return MessageHeader(
        "m-1",
        document_type,
        datetime(2026, 1, 1, tzinfo=UTC),
        DATAHUB_GLN,
        DATAHUB_GLN,
        OUR_SUPPLIER_GLN,
        OUR_SUPPLIER_GLN,
    )


def round_trips(module: Any, message: DatahubMessage[Any]) -> None:
    root = etree.fromstring(module.build(message))
    assert schema(module.SPEC.xsd).validate(root), schema(module.SPEC.xsd).error_log
    assert module.parse(root) == message


@st.composite
def postal_addresses(draw: st.DrawFn, required: bool) -> PostalAddress:
    # F04/F06 addresses require postcode, city and country; F01's are all optional
    req = (lambda s: s) if required else opt
    return PostalAddress(
        care_of=draw(opt(text(150, 0))),
        street_name=draw(opt(text(90, 0))),
        building_number=draw(opt(text(10, 0))),
        floor=draw(opt(text(10, 0))),
        room=draw(opt(text(10, 0))),
        postcode=draw(req(text(10))),
        po_box=draw(opt(text(15, 0))),
        city=draw(req(text(50))),
        country_code=draw(req(code(["FI", "SE", "AX", "EE"]))),
    )


@st.composite
def customers(draw: st.DrawFn, document_type: str) -> Customer:
    id_type = draw(code(["AA01", "AA03", "AA04"]))
    raw = draw(text(50))
    in_f04 = document_type == "F04"
    req = (lambda s: s) if in_f04 else opt
    return Customer(
        identification=PersonalIdentityCode(raw) if id_type == "AA03" else raw,
        identification_type=id_type,
        customer_type=draw(code(["AB01", "AB02"])),
        customer_subtype=draw(req(code(["BF01", "BF02", "BF03"]))),
        alternate_identification=None if in_f04 else draw(opt(text(50, 0))),
        information_restriction=draw(st.booleans()) if in_f04 else draw(flags),
        language=draw(req(code(["fi", "sv", "en"]))),
        name=draw(opt(text(200, 0))),
        given_name=draw(opt(text(50, 0))),
        middle_name=draw(opt(text(50, 0))),
        family_name=draw(opt(text(50, 0))),
        date_of_birth=draw(opt(st.dates())),
        additional_code=draw(opt(text(50, 0))),
        communications=tuple(
            draw(
                st.lists(
                    st.builds(Communication, code(["AD01", "AD02"]), text(90))
                    if in_f04
                    else st.builds(Communication, opt(code(["AD01", "AD02"])), opt(text(90, 0))),
                    max_size=2,
                    unique_by=(lambda c: c.channel) if in_f04 else (lambda c: id(c)),
                )
            )
        ),
        address=draw(postal_addresses(True)) if in_f04 else draw(opt(postal_addresses(False))),
    )


@st.composite
def agreements(draw: st.DrawFn) -> AgreementDetails:
    return AgreementDetails(
        contact_type=draw(code(["AC01", "AC02"])),
        agreement_id=draw(text(50)),
        contract_type=draw(code(["11", "12"])),
        invoicing_method=draw(code(["AH01", "AH02", "AH03"])),
        priority=draw(st.booleans()),
        invoicing_channel=draw(code([f"AI0{i}" for i in range(1, 9)])),
        delivery_contract=draw(flags),
        time_limited=draw(flags),
        fixed_contract_start=draw(opt(instants)),
        fixed_contract_end=draw(opt(instants)),
        notice_basis=draw(flags),
        notice_days=draw(opt(st.integers(0, 9999))),
        notice_period=draw(opt(st.builds(NoticePeriod, opt(instants), opt(instants)))),
        tax_category=draw(opt(code(["0", "1", "2"]))),
        product_codes=tuple(draw(st.lists(text(50), max_size=3))),
        customer_note=draw(opt(text(90, 0))),
        contacts=tuple(
            draw(
                st.lists(
                    st.builds(
                        AgreementContact,
                        code(["AL01", "AL02", "AL03", "AL04", "AL05"]),
                        opt(text(50, 0)),
                        opt(text(50, 0)),
                        opt(text(90, 0)),
                        st.lists(
                            st.builds(Communication, code(["AD01", "AD02"]), text(90)),
                            max_size=2,
                            unique_by=lambda c: c.channel,
                        ).map(tuple),
                    ),
                    max_size=2,
                )
            )
        ),
        invoicing_address=draw(opt(postal_addresses(True))),
        electronic_invoice=draw(opt(st.builds(ElectronicInvoiceAddress, text(50), text(50), opt(text(50, 0))))),
        other_invoicing_address=draw(opt(st.builds(OtherInvoicingAddress, code(["AM01", "AM02"]), text(90)))),
        supplier=draw(opt(st.just(OUR_SUPPLIER_GLN))),
        customers=tuple(draw(st.lists(customers("F04"), max_size=2))),
    )


PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.data())
def test_any_f04_round_trips(data: st.DataObject) -> None:
    event = SalesAgreementEvent(
        accounting_point=gsrn(data.draw(st.integers(1, 10**6))),
        grid_area=GRID_AREA,
        start_of_occurrence=data.draw(opt(instants)),
        end_of_occurrence=data.draw(opt(instants)),
        agreement=data.draw(opt(agreements())),
        transfer_contract_needed=data.draw(flags),
        contract_reason=data.draw(opt(code(["AT01", "AT02", "AT03"]))),
        contract_confirm=data.draw(flags),
        description=data.draw(opt(text(150, 0))),
        original_business_document_reference=data.draw(opt(text(36, 0))),
        original_business_document_sender=data.draw(opt(st.just(DATAHUB_GLN))),
    )
    round_trips(f04, DatahubMessage(header("F04"), ProcessContext("DH-311-1", "DDQ"), (event,)))


@PROPERTY
@given(st.data())
def test_any_f01_round_trips(data: st.DataObject) -> None:
    event = CustomerEvent(
        start_of_occurrence=data.draw(instants),
        customer=data.draw(customers("F01")),
        description=data.draw(opt(text(150, 0))),
        original_business_document_reference=data.draw(opt(text(36, 0))),
    )
    round_trips(f01, DatahubMessage(header("F01"), ProcessContext("DH-111-1", "DDQ"), (event,)))


@PROPERTY
@given(st.data())
def test_any_e58_round_trips(data: st.DataObject) -> None:
    draw = data.draw
    ap = AccountingPointMasterData(
        accounting_point=gsrn(draw(st.integers(1, 10**6))),
        start_of_occurrence=draw(instants),
        grid_area=GRID_AREA,
        physical_status=draw(opt(code(["AE01", "AE02", "AE03", "AE04", "AE05"]))),
        accounting_point_type=draw(opt(code(["AG01", "AG02"]))),
        accounting_point_subtype=draw(opt(code(["AQ01", "AQ02", "AQ03", "AQ04"]))),
        remote_connectable=draw(flags),
        metering_time_division=draw(opt(code(["1", "2", "3"]))),
        meter_identification=draw(opt(text(50, 0))),
        related_accounting_point=draw(opt(st.just(gsrn(7)))),
        netting=draw(flags),
        addresses=tuple(
            draw(
                st.lists(
                    st.builds(
                        AccountingPointAddress,
                        code(["AF01", "AF02"]),
                        opt(text(90, 0)),
                        opt(text(10, 0)),
                        opt(text(10, 0)),
                        opt(text(10, 0)),
                        opt(text(10, 0)),
                        opt(text(50, 0)),
                        opt(code(["FI", "SE", "AX", "NO", "RU"])),
                        opt(text(150, 0)),
                        opt(code(["fi", "sv"])),
                    ),
                    max_size=3,
                )
            )
        ),
        remote_readable=draw(flags),
        metering_method=draw(opt(code(["E13", "E14", "E16"]))),
        resolution=draw(opt(code(["PT15M", "PT1H", "P1D", "P1M", "P1Y"]))),
        user_group=draw(opt(text(4, 0))),
        heating_method=draw(opt(code(["0", "1"]))),
        fuse_size=draw(opt(text(10, 0))),
        contracted_connection_capacity=draw(
            opt(st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2, allow_nan=False))
        ),
        tax_category=draw(opt(code(["0", "1", "2"]))),
        update_reason=draw(opt(st.just("BM02"))),
        description=draw(opt(text(150, 0))),
        original_business_document_reference=draw(opt(text(36, 0))),
        original_business_document_sender=draw(opt(st.just(DATAHUB_GLN))),
    )
    round_trips(e58, DatahubMessage(header("E58"), ProcessContext("DH-121", "DDQ"), (ap,)))
