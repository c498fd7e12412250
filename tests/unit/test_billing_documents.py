"""Finvoice 3.0 and PDF documents from the pure invoicing core: valid against the official XSD, decimal commas,
totals that are the sum of the rows per VAT rate, and a PDF that carries the reference and barcode digits."""

from __future__ import annotations

import dataclasses
import io
from datetime import date
from decimal import Decimal

import pytest
from lxml import etree
from pypdf import PdfReader

from gateway.billing.core.compose import compose_credit_note, issue
from gateway.billing.core.finvoice import (
    FinvoiceInvalid,
    amount_text,
    build_finvoice,
    finvoice_issues,
    quantity_text,
    unit_price_text,
    validated_finvoice,
)
from gateway.billing.core.model import Address, Buyer, CustomerType, ReferenceScheme
from gateway.billing.core.pdf import render_pdf
from gateway.billing.core.qr import epc_payload
from gateway.billing.core.reference import format_national, format_rf
from tests.support.billing_documents import CONSUMER, network_invoice


def _tree(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def _euros(text: str) -> Decimal:
    return Decimal(text.replace(",", "."))


def test_an_invoice_validates_against_finvoice_3_0_and_its_totals_are_its_rows_per_rate() -> None:
    doc = network_invoice()
    xml = validated_finvoice(doc)
    root = _tree(xml)
    assert root.get("Version") == "3.0" and finvoice_issues(xml) == []
    rows: dict[str, Decimal] = {}
    for row in root.iter("InvoiceRow"):
        rows[row.findtext("RowVatRatePercent")] = rows.get(row.findtext("RowVatRatePercent"), Decimal(0)) + _euros(
            row.findtext("RowVatExcludedAmount"))
    specs = {s.findtext("VatRatePercent"): s for s in root.iter("VatSpecificationDetails")}
    assert set(specs) == set(rows) == {"25,5", "0"}
    for rate, spec in specs.items():
        assert _euros(spec.findtext("VatBaseAmount")) == rows[rate]
    vat = sum(_euros(s.findtext("VatRateAmount")) for s in specs.values())
    details = root.find("InvoiceDetails")
    assert _euros(details.findtext("InvoiceTotalVatExcludedAmount")) == sum(rows.values())
    assert _euros(details.findtext("InvoiceTotalVatAmount")) == vat
    assert _euros(details.findtext("InvoiceTotalVatIncludedAmount")) == sum(rows.values()) + vat
    assert details.findtext("InvoicingPeriodStartDate") == "20260301"
    assert details.findtext("InvoicingPeriodEndDate") == "20260331"
    assert details.find("InvoiceDate").get("Format") == "CCYYMMDD"


def test_amounts_use_decimal_commas_and_the_payment_carries_the_reference_and_barcode() -> None:
    doc = network_invoice()
    root = _tree(build_finvoice(doc))
    for element in root.iter():
        if element.get("AmountCurrencyIdentifier"):
            assert "," in element.text and "." not in element.text, element.tag
    epi = root.find("EpiDetails/EpiPaymentInstructionDetails")
    assert epi.findtext("EpiInstructedAmount") == amount_text(doc.total)
    assert len(epi.findtext("EpiInstructedAmount").split(",")[1]) == 2
    reference = epi.find("EpiRemittanceInfoIdentifier")
    assert (reference.text, reference.get("IdentificationSchemeName")) == (doc.reference, "SPY")
    assert root.findtext("VirtualBankBarcode") == doc.barcode
    assert [c.tag for c in root].index("VirtualBankBarcode") == [c.tag for c in root].index("InvoiceRow") - 1
    assert root.find("EpiDetails/EpiPartyDetails/EpiBeneficiaryPartyDetails/EpiAccountID").text == doc.seller.iban


def test_an_rf_entity_pays_by_iso_reference_and_a_version_5_barcode() -> None:
    doc = issue(dataclasses.replace(network_invoice(), reference_scheme=ReferenceScheme.RF, barcode=None), "200000002")
    epi = _tree(validated_finvoice(doc)).find("EpiDetails/EpiPaymentInstructionDetails/EpiRemittanceInfoIdentifier")
    assert (epi.text, epi.get("IdentificationSchemeName")) == (doc.reference_rf, "ISO")
    assert doc.barcode is not None and doc.barcode.startswith("5")


def test_a_credit_note_is_inv02_names_the_original_and_reverses_the_vat_it_charged() -> None:
    original = network_invoice()
    credited = [(100 + i, ln) for i, ln in enumerate(original.lines) if ln.accounting_point]
    note = issue(compose_credit_note(original=original, credited=credited, invoice_date=date(2026, 4, 20),
                                     reason="metering correction"), "200000003")
    root = _tree(validated_finvoice(note))
    details = root.find("InvoiceDetails")
    assert details.findtext("InvoiceTypeCode") == "INV02"
    assert details.findtext("OriginalInvoiceNumber") == original.number
    assert _euros(details.findtext("InvoiceTotalVatExcludedAmount")) == -sum(ln.amount for _, ln in credited)
    charged = {r.rate: r.vat for r in original.vat}
    assert {r.rate: r.vat for r in note.vat} == {Decimal("25.5"): -charged[Decimal("25.5")]}
    assert root.findtext("VirtualBankBarcode") is None
    assert root.findtext("EpiDetails/EpiPaymentInstructionDetails/EpiInstructedAmount") == "0,00"


def test_a_business_buyer_carries_its_business_id_a_consumer_no_identifier_at_all() -> None:
    business = Buyer(8, "Yritys Oy", CustomerType.BUSINESS, Address("Tehdaskatu 3", "33100", "Tampere"),
                     business_id="2345678-0")
    root = _tree(validated_finvoice(network_invoice(buyer=business)))
    assert root.findtext("BuyerPartyDetails/BuyerPartyIdentifier") == "2345678-0"
    consumer = _tree(build_finvoice(network_invoice(buyer=CONSUMER)))
    assert consumer.find("BuyerPartyDetails/BuyerPartyIdentifier") is None


def test_an_invoice_the_xsd_refuses_never_comes_out_and_says_why() -> None:
    broken = dataclasses.replace(network_invoice(), seller=dataclasses.replace(network_invoice().seller, bic="X"))
    with pytest.raises(FinvoiceInvalid) as caught:
        validated_finvoice(broken)
    assert "line" in str(caught.value) and caught.value.issues


def test_number_formats_fit_the_schema_types() -> None:
    assert amount_text(Decimal("-0.001")) == "0,00"
    assert amount_text(Decimal("1234.5")) == "1234,50"
    assert unit_price_text(Decimal("0.052345")) == "0,05235"
    assert unit_price_text(Decimal("3")) == "3,00"
    assert quantity_text(Decimal("123456789.123456")) == "123456789,1235"
    assert len(quantity_text(Decimal("99999999999.999999"))) <= 14


def test_the_pdf_carries_the_reference_in_groups_the_barcode_digits_and_the_required_items() -> None:
    doc = network_invoice()
    reader = PdfReader(io.BytesIO(render_pdf(doc)))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert format_national(doc.reference) in text
    assert doc.barcode in text
    for item in ("Eräpäivä / Due date", "ALV / VAT", "Sähkövero", "Veron peruste", "Kulutus", "vuotta aiemmin",
                 "Sopimus", "toistaiseksi", "Huomautukset", "kuluttajariitalautakuntaan", doc.seller.iban[:4],
                 doc.number, "Maija Meikäläinen"):
        assert item in text, item
    rf = issue(dataclasses.replace(doc, reference_scheme=ReferenceScheme.RF, barcode=None), doc.number)
    rf_text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(render_pdf(rf))).pages)
    assert format_rf(rf.reference_rf) in rf_text


def test_rendering_is_deterministic() -> None:
    assert render_pdf(network_invoice()) == render_pdf(network_invoice())


def test_the_payment_qr_code_carries_the_rf_reference_amount_and_due_date() -> None:
    doc = network_invoice()
    payload = epc_payload(name=doc.seller.name, iban=doc.seller.iban, bic=doc.seller.bic, amount=doc.total,
                          rf_reference=doc.reference_rf, due=doc.due_date)
    lines = payload.split("\n")
    assert lines[:4] == ["BCD", "002", "1", "SCT"]
    assert lines[6] == doc.seller.iban and lines[7] == f"EUR{doc.total}" and lines[9] == doc.reference_rf
    assert lines[11] == f"ReqdExctnDt/{doc.due_date.isoformat()}"
    assert epc_payload(name="x", iban=doc.seller.iban, bic=None, amount=Decimal("0"), rf_reference=doc.reference_rf,
                       due=None) is None


def test_a_document_survives_its_json_form_exactly() -> None:
    from gateway.billing.core.serialize import document_from_json, document_to_json

    doc = network_invoice()
    assert document_from_json(document_to_json(doc)) == doc
    assert build_finvoice(document_from_json(document_to_json(doc))) == build_finvoice(doc)
