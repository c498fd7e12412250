"""Legal entities in the catalogue: everything an invoice needs, validated when the catalogue loads."""

from __future__ import annotations

import copy
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway.catalogue import CatalogueFormatError, load_catalogue, parse_catalogue
from gateway.catalogue.loader import is_valid_ovt
from gateway.rating.core.catalogue import ProviderMode, ReferenceScheme

DEMO = Path(__file__).resolve().parents[2] / "catalogue" / "demo.toml"


def demo() -> dict[str, Any]:
    return tomllib.loads(DEMO.read_text(encoding="utf-8"))


def test_the_demo_entities_carry_everything_an_invoice_needs() -> None:
    catalogue = load_catalogue(DEMO)
    retail, network = catalogue.entities["retail"], catalogue.entities["distribution"]
    assert retail.missing_for_invoicing() == [] and network.missing_for_invoicing() == []
    assert retail.vat_number == "FI12345671" and retail.bic == "NDEAFIHH"
    assert retail.address is not None and retail.address.postcode == "00100"
    assert retail.finvoice_address == "003712345671" and retail.finvoice_operator == "NDEAFIHH"
    assert retail.invoicing is not None and retail.invoicing.number_prefix == "10"
    assert retail.invoicing.correction_threshold == Decimal("2.00")
    assert network.invoicing is not None and network.invoicing.reference_scheme is ReferenceScheme.RF
    assert retail.payment_provider is not None and retail.payment_provider.mode is ProviderMode.PRINT_ONLY
    assert network.payment_provider is not None and network.payment_provider.mode is ProviderMode.FULL_SERVICE
    assert catalogue.invoicing.channels["AI02"] == "e_invoice"


def _broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(demo())
    change(data["legal_entities"][0])
    return data


@pytest.mark.parametrize(("change", "message"), [
    (lambda e: e.update(business_id="1234567-2"), "not a valid Finnish business ID"),
    (lambda e: e.update(iban="FI2112345600000786"), "not a valid IBAN"),
    (lambda e: e.update(bic="NDEAFI"), "not a valid BIC"),
    (lambda e: e.update(vat_number="FI12345672"), "not a valid Finnish VAT number"),
    (lambda e: e.update(vat_number="FI76543212"), "does not belong to business ID"),
    (lambda e: e["finvoice"].update(address="003712345672"), "OVT"),
    (lambda e: e["finvoice"].update(operator="BANK"), "neither a BIC nor an OVT"),
    (lambda e: e["address"].update(postcode="100"), "postcode"),
    (lambda e: e["address"].pop("city"), "missing 'city'"),
    (lambda e: e["invoicing"].update(number_prefix="01"), "number_prefix"),
    (lambda e: e["invoicing"].update(number_prefix="2"), "overlaps retail"),
    (lambda e: e["invoicing"].update(reference_scheme="iban"), "reference_scheme"),
    (lambda e: e["invoicing"].update(correction_threshold_eur=2.5), "as a string"),
    (lambda e: e["payment_provider"].update(mode="collect_everything"), "mode must be one of"),
    (lambda e: e.pop("bic"), "needs bic"),
])
def test_an_invalid_entity_refuses_the_whole_catalogue_with_a_clear_reason(change: Any, message: str) -> None:
    with pytest.raises(CatalogueFormatError, match=message) as caught:
        parse_catalogue(_broken(change))
    assert str(caught.value).startswith("legal_entities[")


def test_the_final_invoice_delay_must_stay_within_six_weeks() -> None:
    data = demo()
    data["invoicing"]["final_invoice_delay_days"] = 43
    with pytest.raises(CatalogueFormatError, match="six weeks"):
        parse_catalogue(data)


def test_an_entity_without_invoicing_terms_still_rates() -> None:
    data = demo()
    for key in ("invoicing", "bic", "vat_number", "address", "finvoice", "payment_provider", "contact"):
        data["legal_entities"][2].pop(key)
    entity = parse_catalogue(data).entities["heating"]
    assert entity.invoicing is None and "invoicing" in entity.missing_for_invoicing()


@pytest.mark.parametrize(("code", "valid"), [
    ("003712345671", True), ("003712345671ABC", True), ("0037 1234 5671", True), ("003712345672", False),
    ("003812345671", False), ("0037123456", False), ("003712345671ABCDEF", False),
])
def test_ovt_addresses_are_0037_and_a_valid_business_id(code: str, valid: bool) -> None:
    assert is_valid_ovt(code) is valid
