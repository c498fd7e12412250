"""The invoice as plain data: what Finvoice, the PDF and the JSON export are rendered from.

Amounts are ``Decimal`` euros, VAT 0 on lines; every line amount is already rounded to cents by rating (or
is a cent amount of an adjustment). Dates are local Helsinki days; ``period_end`` is exclusive everywhere
in code and printed as the last day included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from gateway.rating.core.catalogue import ReferenceScheme

__all__ = ["ReferenceScheme"]


class DocumentKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class CustomerType(StrEnum):
    CONSUMER = "consumer"
    BUSINESS = "business"


@dataclass(frozen=True)
class Address:
    street: str | None = None
    postcode: str | None = None
    city: str | None = None
    country: str = "FI"

    @property
    def complete(self) -> bool:
        return bool(self.street and self.postcode and self.city)

    def lines(self) -> list[str]:
        return [x for x in (self.street, " ".join(p for p in (self.postcode, self.city) if p)) if x]


@dataclass(frozen=True)
class Seller:
    """What an invoice shows of the legal entity (a snapshot: an issued invoice keeps it as it was)."""

    entity_id: str
    name: str
    business_id: str
    vat_number: str
    address: Address
    iban: str
    bic: str
    finvoice_address: str | None = None
    finvoice_operator: str | None = None
    phone: str | None = None
    email: str | None = None
    web: str | None = None
    complaint_text: str = ""
    dispute_text: str = ""
    home_town: str | None = None


@dataclass(frozen=True)
class Buyer:
    """The billed customer. Never a personal identity code: consumers carry no identifier at all."""

    customer_id: int | None
    name: str
    customer_type: CustomerType
    address: Address
    business_id: str | None = None
    language: str = "fi"
    channel: str = "paper"
    e_invoice_address: str | None = None
    e_invoice_operator: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Line:
    """One invoice row and where it came from (``source``: rating result id + revision + line index, an
    adjustment id, or the credited line)."""

    description: str
    amount: Decimal
    vat_rate: Decimal
    quantity: Decimal | None = None
    unit: str | None = None
    unit_price: Decimal | None = None
    accounting_point: str | None = None
    product_code: str | None = None
    component: str | None = None
    period_start: date | None = None
    period_end: date | None = None  # exclusive
    vat_kind: str | None = None
    tax_class: str | None = None
    flags: tuple[str, ...] = ()
    source: dict[str, Any] = field(default_factory=dict)

    def negated(self, source: dict[str, Any]) -> Line:
        return Line(self.description, -self.amount, self.vat_rate,
                    None if self.quantity is None else -self.quantity, self.unit, self.unit_price,
                    self.accounting_point, self.product_code, self.component, self.period_start, self.period_end,
                    self.vat_kind, self.tax_class, self.flags, source)


@dataclass(frozen=True)
class VatRow:
    rate: Decimal
    base: Decimal
    vat: Decimal


@dataclass(frozen=True)
class Consumption:
    accounting_point: str
    unit: str
    quantity: Decimal
    previous_year: Decimal | None = None  # the same period a year earlier, when it was rated


@dataclass(frozen=True)
class Contract:
    accounting_point: str
    product: str
    valid_from: date | None
    valid_to: date | None = None  # exclusive; None = until further notice
    fixed_term: bool = False


@dataclass(frozen=True)
class ElectricityTax:
    basis_kwh: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Document:
    """An invoice or a credit note. Before issue ``number``, the references and ``due_date`` are None."""

    kind: DocumentKind
    seller: Seller
    buyer: Buyer
    period_start: date
    period_end: date  # exclusive
    lines: tuple[Line, ...]
    vat: tuple[VatRow, ...]
    invoice_date: date
    reference_scheme: ReferenceScheme = ReferenceScheme.NATIONAL
    number: str | None = None
    reference: str | None = None  # national
    reference_rf: str | None = None
    due_date: date | None = None
    barcode: str | None = None
    electricity_tax: ElectricityTax | None = None
    consumption: tuple[Consumption, ...] = ()
    contracts: tuple[Contract, ...] = ()
    original_number: str | None = None
    original_date: date | None = None
    reason: str | None = None
    final: bool = False
    payment_term_days: int = 14

    @property
    def total_excl_vat(self) -> Decimal:
        return sum((ln.amount for ln in self.lines), Decimal("0.00"))

    @property
    def total_vat(self) -> Decimal:
        return sum((v.vat for v in self.vat), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        return self.total_excl_vat + self.total_vat

    @property
    def payment_reference(self) -> str | None:
        """The reference the payer is asked to use: national or RF, as the entity's scheme says."""
        return self.reference_rf if self.reference_scheme is ReferenceScheme.RF else self.reference

    @property
    def last_day(self) -> date:
        return self.period_end - timedelta(days=1)
