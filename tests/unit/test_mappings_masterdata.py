"""E58, F01, F04, F06, F03 and F08: what the parsers read and what the builders keep."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from gateway.domain.agreement import ElectronicInvoiceAddress
from gateway.domain.identifiers import PersonalIdentityCode
from mappings import e58, f01, f03, f04, f06, f08
from mappings.registry import SCHEMA_ROOT, UnknownDocumentError, document_type_for, mapping_for_namespace
from mappings.samples import GRID_AREA, OTHER_SUPPLIER_GLN, OUR_SUPPLIER_GLN, gsrn

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "datahub"
HETU = "131052-308T"


def root_of(name: str) -> etree._Element:
    return etree.parse(str(FIXTURES / name)).getroot()


@cache
def schema(xsd: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_ROOT / xsd)))


def test_e58_carries_what_billing_needs() -> None:
    (ap,) = e58.parse(root_of("e58-accounting-point-1.xml")).transactions
    assert ap.accounting_point == gsrn(1)
    assert ap.start_of_occurrence == datetime(2025, 12, 31, 22, tzinfo=UTC)  # 1.1.2026 00:00 in Helsinki
    assert (ap.grid_area, ap.metering_method, ap.resolution) == (GRID_AREA, "E13", "PT15M")
    assert (ap.fuse_size, ap.tax_category, ap.accounting_point_type) == ("3x25", "1", "AG01")
    (address,) = ap.addresses
    assert (address.street_name, address.postcode, address.city, address.country_code) == (
        "Testikatu",
        "00100",
        "Helsinki",
        "FI",
    )
    assert ap.transaction_id is None


def test_e58_full_detail() -> None:
    (ap,) = e58.parse(root_of("e58-full-detail.xml")).transactions
    assert ap.contracted_connection_capacity == Decimal("17.25")
    assert (ap.fuse_size, ap.tax_category, ap.update_reason) == ("3x35", "2", "BM02")
    assert ap.remote_connectable is True and ap.netting is False


def test_f01_consumer_identity_code_is_masked_everywhere_but_reveal() -> None:
    message = f01.parse(root_of("f01-consumer.xml"))
    customer = message.transactions[0].customer
    assert isinstance(customer.identification, PersonalIdentityCode)
    assert customer.identification.reveal() == HETU
    assert HETU not in repr(message)
    assert customer.date_of_birth == date(1952, 10, 13)
    assert [c.channel for c in customer.communications] == ["AD01", "AD02"]
    assert customer.display_name == "Maija Liisa Meikäläinen"
    assert HETU.encode() in f01.build(message)  # the XML itself carries it in full


def test_f01_company_keeps_its_business_id_as_text() -> None:
    customer = f01.parse(root_of("f01-company.xml")).transactions[0].customer
    assert customer.identification == "2077474-0"
    assert (customer.customer_type, customer.display_name) == ("AB01", "Exempel Ab")
    assert customer.address is not None and customer.address.po_box == "PL 12"


def test_f04_new_agreement_with_e_invoice() -> None:
    (event,) = f04.parse(root_of("f04-new-agreement-e-invoice.xml")).transactions
    assert event.accounting_point == gsrn(1) and event.grid_area == GRID_AREA
    agreement = event.agreement
    assert agreement is not None
    assert agreement.product_codes == ("SPOT-2026",)
    assert agreement.electronic_invoice == ElectronicInvoiceAddress(address="FI4819503000000010", router="NDEAFIHH")
    assert agreement.supplier == OUR_SUPPLIER_GLN
    (customer,) = agreement.customers
    assert isinstance(customer.identification, PersonalIdentityCode)
    assert event.agreement_id == agreement.agreement_id


def test_f04_fixed_term_agreement() -> None:
    (event,) = f04.parse(root_of("f04-fixed-term-paper-invoice.xml")).transactions
    agreement = event.agreement
    assert agreement is not None
    assert agreement.time_limited is True and agreement.notice_days == 14
    assert agreement.fixed_contract_end == datetime(2027, 1, 31, 22, tzinfo=UTC)
    assert agreement.electronic_invoice is None and agreement.invoicing_address is not None
    assert agreement.supplier == OTHER_SUPPLIER_GLN
    assert event.contract_reason == "AT01"


def test_a_customer_field_the_f04_does_not_carry_is_left_out() -> None:
    f01_customer = f01.parse(root_of("f01-company.xml")).transactions[0].customer
    assert f01_customer.alternate_identification == "CUST-42"
    message = f04.parse(root_of("f04-fixed-term-paper-invoice.xml"))
    (event,) = message.transactions
    assert event.agreement is not None
    customer = dataclasses.replace(
        f01_customer,
        customer_subtype="BF01",
        information_restriction=False,
        address=event.agreement.customers[0].address,
    )
    moved = dataclasses.replace(
        message,
        transactions=(
            dataclasses.replace(event, agreement=dataclasses.replace(event.agreement, customers=(customer,))),
        ),
    )
    root = etree.fromstring(f04.build(moved))
    assert schema(f04.SPEC.xsd).validate(root), schema(f04.SPEC.xsd).error_log
    reparsed = f04.parse(root).transactions[0].agreement
    assert reparsed is not None and reparsed.customers[0].alternate_identification is None


def test_f06_end_notices() -> None:
    (notice,) = f06.parse(root_of("f06-end-notice-move-out.xml")).transactions
    assert (notice.reason, notice.accounting_point, notice.end_of_occurrence) == (
        "AN01",
        gsrn(1),
        datetime(2026, 3, 31, 21, tzinfo=UTC),
    )
    assert isinstance(notice.customers[0].identification, PersonalIdentityCode)
    (minimal,) = f06.parse(root_of("f06-end-notice-minimal.xml")).transactions
    assert minimal.accounting_point is None and minimal.customers == ()


def test_f06_contract_details_need_the_accounting_point() -> None:
    message = f06.parse(root_of("f06-end-notice-minimal.xml"))
    orphan = dataclasses.replace(message.transactions[0], agreement_id="A-1")
    with pytest.raises(ValueError, match="accounting point"):
        f06.build(dataclasses.replace(message, transactions=(orphan,)))


def test_f03_and_f08_requests() -> None:
    (request,) = f03.parse(root_of("f03-accounting-point-info-request.xml")).transactions
    assert request.accounting_point == gsrn(1)
    assert request.customers == (PersonalIdentityCode(HETU),)
    (data_request,) = f08.parse(root_of("f08-metering-data-request.xml")).transactions
    assert data_request.accounting_points == (gsrn(1), gsrn(2))
    assert data_request.resolution == "PT15M"
    assert data_request.products[0].unit == "kWh"


@pytest.mark.parametrize(
    ("name", "document_type"),
    [
        ("f04-new-agreement-e-invoice.xml", "F04"),
        ("f06-end-notice-minimal.xml", "F06"),  # same root element name, other namespace
        ("e58-accounting-point-1.xml", "E58"),
        ("e66-datahub-style.xml", "E66"),
        ("ack-ba01-accepted.xml", "ACK"),
    ],
)
def test_registry_tells_document_types_by_root_namespace(name: str, document_type: str) -> None:
    root = root_of(name)
    assert etree.QName(root).localname != document_type  # the type is not in the root's name
    assert document_type_for(root) == document_type
    mapping = mapping_for_namespace(etree.QName(root).namespace or "")
    assert mapping is not None and mapping.xsd_path.is_file()


def test_registry_rejects_unknown_roots() -> None:
    with pytest.raises(UnknownDocumentError):
        document_type_for(etree.fromstring(b"<x:Invoice xmlns:x='urn:other'/>"))
    with pytest.raises(UnknownDocumentError):  # F04's namespace with another root name
        document_type_for(
            etree.fromstring(b"<x:Other xmlns:x='urn:fi:Datahub:mif:masterdata:F04_MasterDataContractEvent:v1'/>")
        )
