"""Sample invoice documents for the pure invoicing core's tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from gateway.billing.core.compose import Adjustment, PricedCharge, compose_invoice, issue
from gateway.billing.core.model import Address, Buyer, Consumption, Contract, CustomerType, Document, Seller

SELLER = Seller(
    entity_id="distribution", name="Esimerkki Sähköverkko Oy", business_id="7654321-2", vat_number="FI76543212",
    address=Address("Verkkotie 2", "00200", "Helsinki"), iban="FI5810171000000122", bic="NDEAFIHH",
    finvoice_address="003776543212", finvoice_operator="NDEAFIHH", phone="09 123 4567",
    email="asiakaspalvelu@example.fi", web="www.example.fi", home_town="Helsinki",
    complaint_text="Huomautukset laskusta 14 päivän kuluessa asiakaspalveluun.",
    dispute_text="Riita-asiat voi viedä kuluttajariitalautakuntaan.",
)
CONSUMER = Buyer(7, "Maija Meikäläinen", CustomerType.CONSUMER, Address("Testikatu 1", "00100", "Helsinki"),
                 channel="e_invoice", e_invoice_address="FI4819503000000010", e_invoice_operator="NDEAFIHH")
POINT = "643000000000000016"


def priced(component: str, amount: str, *, quantity: str = "512.345678", unit: str = "kWh",
           unit_price: str = "0.0347", vat_rate: str = "25.5", tax_class: str | None = None) -> dict[str, Any]:
    return {"accounting_point": POINT, "legal_entity": "distribution", "product_code": "SV-AIKA",
            "component": component, "period_start": "2026-02-28T22:00:00+00:00",
            "period_end": "2026-03-31T21:00:00+00:00", "quantity": quantity, "unit": unit, "unit_price": unit_price,
            "amount": amount, "vat_kind": "network", "vat_rate": vat_rate, "tax_class": tax_class,
            "estimated_intervals": 0, "missing_intervals": 0, "flags": []}


def network_invoice(number: str = "200000001", *, buyer: Buyer = CONSUMER, adjustments: bool = True) -> Document:
    lines = [
        priced("energy_day", "12.34"), priced("energy_night", "3.21", unit_price="0.0116"),
        priced("basic_fee", "24.38", quantity="31", unit="day", unit_price="0.786452"),
        priced("electricity_tax", "23.09", quantity="1024.69", unit_price="0.02253", tax_class="1"),
    ]
    charges = [PricedCharge(data, 11, 1, i, "Aikasiirto", "network") for i, data in enumerate(lines)]
    extra = [Adjustment(5, "reminder_fee", Decimal("5.00"), Decimal("0"), "invoice 200000000")] if adjustments else []
    doc = compose_invoice(
        seller=SELLER, buyer=buyer, period_start=date(2026, 3, 1), period_end=date(2026, 4, 1), charges=charges,
        adjustments=extra, invoice_date=date(2026, 4, 2),
        consumption=[Consumption(POINT, "kWh", Decimal("1024.69"), Decimal("1100.5"))],
        contracts=[Contract(POINT, "Aikasiirto", date(2025, 6, 1))],
    )
    return issue(doc, number)
