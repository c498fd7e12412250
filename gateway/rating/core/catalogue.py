"""The product catalogue as dated data: legal entities, products with dated price rows, taxes, VAT.

Everything here is plain data loaded by ``gateway.catalogue.loader`` from a TOML file; a new tax row or price
is a data change. Energy prices are canonical €/kWh (VAT 0), monthly fees €/month (VAT 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from gateway.rating.core.calendar import Grid
from gateway.rating.core.dated import DatedTable


class Segment(StrEnum):
    RETAIL = "retail"
    NETWORK = "network"
    DISTRICT_HEATING = "district_heating"


class VatKind(StrEnum):
    ELECTRICITY_SALES = "electricity_sales"
    NETWORK = "network"
    ELECTRICITY_TAX = "electricity_tax"
    DISTRICT_HEATING = "district_heating"


class MissingDataPolicy(StrEnum):
    HOLD = "hold"  # a period with any missing interval is not billed
    BILL_MARKED = "bill_marked"  # bill what was delivered; missing intervals add nothing; lines are marked


RETAIL_KINDS = ("fixed", "time_of_use", "seasonal", "spot", "hybrid")
NETWORK_KINDS = ("general", "time_of_day", "seasonal", "power")
HEATING_KINDS = ("flat", "seasonal", "monthly")
KINDS: dict[Segment, tuple[str, ...]] = {
    Segment.RETAIL: RETAIL_KINDS,
    Segment.NETWORK: NETWORK_KINDS,
    Segment.DISTRICT_HEATING: HEATING_KINDS,
}
MONTH_KEYS = tuple(f"m{m:02d}" for m in range(1, 13))


class ReferenceScheme(StrEnum):
    NATIONAL = "national"  # Finnish reference, barcode version 4
    RF = "rf"  # ISO 11649 creditor reference carrying the national one, barcode version 5


class ProviderMode(StrEnum):
    """How the payment provider handles an entity's invoices (docs/market.md §5.1)."""

    PRINT_ONLY = "print_only"  # jobtype 300: delivery only, payments to our own account and reference
    FULL_SERVICE = "full_service"  # jobtype 0: the provider delivers, monitors and collects


@dataclass(frozen=True)
class PostalAddress:
    street: str
    postcode: str
    city: str
    country: str = "FI"


@dataclass(frozen=True)
class InvoicingTerms:
    """How an entity numbers and words its invoices. Numbers are ``number_prefix`` + a running number of
    ``number_width`` digits; the national reference is the number + its check digit."""

    number_prefix: str
    number_width: int = 7
    reference_scheme: ReferenceScheme = ReferenceScheme.NATIONAL
    payment_term_days: int = 14
    correction_threshold: Decimal = Decimal("0.00")  # |delta| below this carries to the next invoice
    complaint_text: str = ""
    dispute_text: str = ""


@dataclass(frozen=True)
class PaymentProviderAccount:
    account: str
    mode: ProviderMode = ProviderMode.PRINT_ONLY


@dataclass(frozen=True)
class LegalEntity:
    """A company of the group. The invoicing fields are optional for rating; an entity without
    ``invoicing`` (or without IBAN, BIC, VAT number or address) cannot be invoiced."""

    id: str
    name: str
    business_id: str
    segment: Segment
    iban: str | None = None
    bic: str | None = None
    vat_number: str | None = None
    address: PostalAddress | None = None
    phone: str | None = None
    email: str | None = None
    web: str | None = None
    finvoice_address: str | None = None  # OVT/EDI address the entity sends e-invoices from
    finvoice_operator: str | None = None  # its e-invoice operator (intermediator): a BIC or an OVT code
    invoicing: InvoicingTerms | None = None
    payment_provider: PaymentProviderAccount | None = None

    def missing_for_invoicing(self) -> list[str]:
        """What the catalogue lacks for this entity to issue invoices (empty when it can)."""
        wanted = {"iban": self.iban, "bic": self.bic, "vat_number": self.vat_number, "address": self.address,
                  "invoicing": self.invoicing}
        return [name for name, value in wanted.items() if value is None]


@dataclass(frozen=True)
class InvoicingRules:
    """Group-wide invoicing settings (``[invoicing]`` of the catalogue)."""

    channels: Mapping[str, str] = field(default_factory=lambda: {"AI01": "paper", "AI02": "e_invoice"})
    default_channel: str = "paper"
    final_invoice_delay_days: int = 7  # an F06 end schedules the final invoice this long after the end


@dataclass(frozen=True)
class CalendarRules:
    """Time-of-use rules, applied to each interval's local start time in Europe/Helsinki."""

    day_start_hour: int = 7
    day_end_hour: int = 22
    winter_months: tuple[int, ...] = (11, 12, 1, 2, 3)
    winter_weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5)  # Monday..Saturday

    def day_mask(self, grid: Grid) -> npt.NDArray[np.bool_]:
        hour = grid.local_hour
        return (hour >= self.day_start_hour) & (hour < self.day_end_hour)

    def winter_weekday_mask(self, grid: Grid) -> npt.NDArray[np.bool_]:
        return (
            self.day_mask(grid)
            & np.isin(grid.local_month, self.winter_months)
            & np.isin(grid.local_weekday, self.winter_weekdays)
        )

    def is_day_hour(self, local_hour: int) -> bool:
        return self.day_start_hour <= local_hour < self.day_end_hour


@dataclass(frozen=True)
class TaxRow:
    """Electricity tax of one class, €/kWh (VAT 0)."""

    energy_tax: Decimal
    security_of_supply_fee: Decimal

    @property
    def total(self) -> Decimal:
        return self.energy_tax + self.security_of_supply_fee


@dataclass(frozen=True)
class PowerRule:
    """How the billed power (kW) of a month is determined; see docs/market.md §3.2."""

    id: str
    window_minutes: int = 60
    nth_highest: int = 1
    night_weight: Decimal = Decimal(1)
    night_start_hour: int = 22
    night_end_hour: int = 7
    threshold_kw: Decimal = Decimal(0)
    lookback_months: int = 1  # 1 = the billed month; 12 = the billed month and the 11 before it

    def __post_init__(self) -> None:
        if self.window_minutes not in (15, 60):
            raise ValueError("power window must be 15 or 60 minutes")
        if self.nth_highest < 1 or self.lookback_months < 1:
            raise ValueError("nth_highest and lookback_months must be ≥ 1")

    def is_night_hour(self, local_hour: int) -> bool:
        if self.night_start_hour > self.night_end_hour:
            return local_hour >= self.night_start_hour or local_hour < self.night_end_hour
        return self.night_start_hour <= local_hour < self.night_end_hour


@dataclass(frozen=True)
class FeeBracket:
    """``constant + per_unit × x`` €/year for basis values up to ``up_to`` (inclusive; None = no limit)."""

    up_to: Decimal | None
    constant: Decimal
    per_unit: Decimal


@dataclass(frozen=True)
class BasicFeeFormula:
    """District heating basic fee: ``multiplier × bracket(x)`` €/year; x is contracted flow or power."""

    basis: str  # "flow_m3h" | "power_kw"
    multiplier: Decimal
    brackets: tuple[FeeBracket, ...]

    def annual_fee(self, x: Decimal) -> Decimal:
        for bracket in self.brackets:
            if bracket.up_to is None or x <= bracket.up_to:
                return self.multiplier * (bracket.constant + bracket.per_unit * x)
        raise ValueError(f"no basic fee bracket covers {x}")


@dataclass(frozen=True)
class PriceRow:
    """The prices of a product during one validity period (VAT 0)."""

    energy: Mapping[str, Decimal] = field(default_factory=dict)  # €/kWh by slot key
    basic_fee_month: Decimal | None = None
    fuse_fees: Mapping[str, Decimal] = field(default_factory=dict)  # €/month by main fuse, e.g. "3x25A"
    power_fee_kw_month: Decimal | None = None
    basic_fee_formula: BasicFeeFormula | None = None


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    segment: Segment
    kind: str
    legal_entity: str
    prices: DatedTable[PriceRow]
    power_rule: str | None = None
    seasons: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # heating: season → months
    fixed_share: Decimal | None = None  # hybrid: share of energy at the fixed price
    price_zone: str | None = None  # spot and hybrid
    line_unit: str = "kWh"

    def __post_init__(self) -> None:
        if self.kind not in KINDS[self.segment]:
            raise ValueError(f"product {self.code}: kind {self.kind!r} is not a {self.segment} kind")
        required = set(self.energy_slots())
        for row in self.prices.values():
            if set(row.energy) != required:
                raise ValueError(
                    f"product {self.code}: energy prices {sorted(row.energy)} but kind {self.kind} "
                    f"needs {sorted(required)}"
                )
        if self.kind in ("spot", "hybrid") and not self.price_zone:
            raise ValueError(f"product {self.code}: spot-based products need price_zone")
        if self.kind == "hybrid" and (self.fixed_share is None or not 0 <= self.fixed_share <= 1):
            raise ValueError(f"product {self.code}: hybrid needs fixed_share between 0 and 1")
        if self.kind == "power" and not self.power_rule:
            raise ValueError(f"product {self.code}: a power product needs power_rule")

    def energy_slots(self) -> tuple[str, ...]:
        """Keys of ``PriceRow.energy`` this kind prices energy with."""
        if self.kind in ("fixed", "general", "power", "flat"):
            return ("energy",)
        if self.kind in ("time_of_use", "time_of_day"):
            return ("day", "night")
        if self.kind == "seasonal" and self.segment is not Segment.DISTRICT_HEATING:
            return ("winter_weekday", "other")
        if self.kind == "seasonal":
            return tuple(self.seasons)
        if self.kind == "monthly":
            return MONTH_KEYS
        if self.kind == "spot":
            return ("margin",)
        if self.kind == "hybrid":
            return ("energy", "margin")
        raise ValueError(self.kind)


@dataclass(frozen=True)
class Catalogue:
    entities: Mapping[str, LegalEntity]
    products: Mapping[str, Product]
    vat: Mapping[VatKind, DatedTable[Decimal]]
    electricity_tax: Mapping[str, DatedTable[TaxRow]]
    power_rules: Mapping[str, PowerRule]
    calendar: CalendarRules = field(default_factory=CalendarRules)
    missing_data_policy: MissingDataPolicy = MissingDataPolicy.HOLD
    vat_on_net_credit: bool = False  # docs/market.md §3.1: a net credit carries no VAT (unverified)
    invoicing: InvoicingRules = field(default_factory=InvoicingRules)

    def product(self, code: str) -> Product:
        try:
            return self.products[code]
        except KeyError:
            raise KeyError(f"product {code!r} is not in the catalogue") from None

    def vat_table(self, kind: VatKind) -> DatedTable[Decimal]:
        try:
            return self.vat[kind]
        except KeyError:
            raise KeyError(f"no VAT rates for {kind}") from None

    def tax_table(self, tax_class: str) -> DatedTable[TaxRow]:
        try:
            return self.electricity_tax[tax_class]
        except KeyError:
            raise KeyError(f"electricity tax class {tax_class!r} is not in the catalogue") from None
