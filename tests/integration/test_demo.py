"""`gateway demo` runs end to end on a fresh SQLite database and tells the truth about what happened."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.demo import run_demo


def test_demo_pulls_parks_rates_corrects_and_sends(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo(Settings(database_url=f"sqlite:///{tmp_path / 'gateway.db'}")) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    assert "duplicate: 1" in lines["pulled"] and "rejected: 1" in lines["pulled"]
    assert "dequeue failures (dequeued when handed out again): 1" in lines["pulled"]
    assert "31 metering messages waited" in lines["parked"] and "31 released" in lines["parked"]
    assert "372 series stored (12 of them on 29.3.2026 with 92 quarter hours)" in lines["metering"]
    assert "revision 2" in lines["correction"]
    assert "ACK BA01 -> accepted" in lines["outbound"]
    assert "0 dead letters" in lines["outbox"] and "due and waiting: none" in lines["outbox"]
    assert out.count("€ excl. VAT") == 12
    assert "ropo-retail-0001 12" in lines["provider"] and "each stored once" in lines["statuses"]
    assert "9 allocated, 1 unmatched" in lines["bank"] and "invalid_reference" in out
    assert "reminder(s) with fee" in lines["dunning"] and "unmatched queue: 1 items" in out
    _the_demo_invoices_are_valid_and_complete(out, tmp_path / "demo" / "invoices")


def _the_demo_invoices_are_valid_and_complete(out: str, folder: Path) -> None:
    """Every Finvoice the demo produces validates against the official XSD, uses decimal commas, and its totals
    are the sum of its rows per VAT rate; every PDF carries its reference and barcode digits."""
    import io
    from decimal import Decimal

    from lxml import etree
    from pypdf import PdfReader

    from gateway.billing.core.finvoice import finvoice_issues
    from gateway.billing.core.reference import format_national, format_rf

    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    assert "retail" in lines["billing"] and "distribution" in lines["billing"] and "heating 1" in lines["billing"]
    assert "held 0" in lines["billing"] and "creates 0 invoices" in lines["rerun"]
    assert "corrected invoice" in lines["credit"] and "because of the metering correction: E66 message" in out
    xml_files = sorted((folder / "finvoice").glob("*.xml"))
    pdf_files = sorted((folder / "pdf").glob("*.pdf"))
    assert len(xml_files) == len(pdf_files) > 20 and [f.stem for f in xml_files] == [f.stem for f in pdf_files]
    assert {f.stem.split("-")[0] for f in xml_files} == {"retail", "distribution", "heating"}
    for xml_file, pdf_file in zip(xml_files, pdf_files, strict=True):
        xml = xml_file.read_bytes()
        assert finvoice_issues(xml) == [], xml_file
        root = etree.fromstring(xml)
        for element in root.iter():
            if element.get("AmountCurrencyIdentifier"):
                assert "." not in element.text and "," in element.text
        rows: dict[str, Decimal] = {}
        for row in root.iter("InvoiceRow"):
            rate = row.findtext("RowVatRatePercent")
            rows[rate] = rows.get(rate, Decimal(0)) + Decimal(row.findtext("RowVatExcludedAmount").replace(",", "."))
        specs = {s.findtext("VatRatePercent"): Decimal(s.findtext("VatBaseAmount").replace(",", "."))
                 for s in root.iter("VatSpecificationDetails")}
        assert specs == rows, xml_file
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf_file.read_bytes())).pages)
        reference = root.findtext("EpiDetails/EpiPaymentInstructionDetails/EpiRemittanceInfoIdentifier")
        printed = format_rf(reference) if reference.startswith("RF") else format_national(reference)
        assert printed in text, pdf_file
        barcode = root.findtext("VirtualBankBarcode")
        assert barcode is None or barcode in text
        assert (barcode is None) == (root.findtext("InvoiceDetails/InvoiceTypeCode") == "INV02")
