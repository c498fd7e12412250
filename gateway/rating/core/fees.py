"""Monthly fees prorated by days of supply (move-in/out mid-month, VAT or price change mid-month).

Each local day is priced by its own start instant (price row and VAT rate); days of one month with the same
price row and VAT rate make one line: ``amount = monthly fee × days / days in month``, rounded once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from gateway.rating.core.calendar import days_in_month, local_midnight_utc
from gateway.rating.core.catalogue import Catalogue, PriceRow, Product
from gateway.rating.core.charges import VAT_KIND_OF_SEGMENT, CatalogueGapError
from gateway.rating.core.lines import PricedLine
from gateway.rating.core.money import UNIT_PRICE_PLACES, div_round_half_up


@dataclass(frozen=True)
class MonthlyCharge:
    """What a price row charges per month: ``quantity × unit_price / divisor`` €/month (VAT 0).

    ``divisor`` keeps an annual fee exact (annual / 12) until the line is rounded.
    """

    quantity: Decimal
    unit: str
    unit_price: Decimal
    divisor: int = 1

    def cents_for(self, days: int, days_in_month: int) -> int:
        """Exact ``monthly amount × days / days_in_month`` in cents, rounded half away from zero."""
        numerator, denominator = (self.quantity * self.unit_price).as_integer_ratio()
        return div_round_half_up(numerator * days * 100, denominator * days_in_month * self.divisor)


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


def supply_days(period_start: date, period_end: date, supply_start: date, supply_end: date | None) -> list[date]:
    """Local days of the period on which the product is supplied (ends exclusive)."""
    first = max(period_start, supply_start)
    last = min(period_end, supply_end) if supply_end is not None else period_end
    return days_between(first, last) if first < last else []


def prorated_lines(
    accounting_point: str,
    product: Product,
    catalogue: Catalogue,
    days: Iterable[date],
    component: str,
    charge_of_row: Callable[[PriceRow], MonthlyCharge | None],
    flags: tuple[int, int] = (0, 0),
) -> list[PricedLine]:
    vat_kind = VAT_KIND_OF_SEGMENT[product.segment]
    vat_table = catalogue.vat_table(vat_kind)
    groups: dict[tuple[int, int, int, Decimal], list[date]] = {}
    rows: dict[int, PriceRow] = {}
    for day in days:
        instant = local_midnight_utc(day)
        row = product.prices.at(instant)
        vat = vat_table.at(instant)
        if row is None:
            raise CatalogueGapError(f"product {product.code} has no price row valid on {day}")
        if vat is None:
            raise CatalogueGapError(f"no {vat_kind} VAT rate valid on {day}")
        rows[id(row)] = row
        groups.setdefault((day.year, day.month, id(row), vat), []).append(day)
    lines = []
    for (_, _, row_id, vat_rate), group in groups.items():
        charge = charge_of_row(rows[row_id])
        if charge is None:
            continue
        dim = days_in_month(group[0])
        amount = Decimal(charge.cents_for(len(group), dim)).scaleb(-2)
        if charge.unit == "day":
            daily = charge.quantity * charge.unit_price / (dim * charge.divisor)
            quantity, unit_price = Decimal(len(group)), daily.quantize(UNIT_PRICE_PLACES)
        else:
            quantity, unit_price = charge.quantity, charge.unit_price
        lines.append(
            PricedLine(
                accounting_point=accounting_point,
                legal_entity=product.legal_entity,
                product_code=product.code,
                component=component,
                period_start=local_midnight_utc(group[0]),
                period_end=local_midnight_utc(group[-1] + timedelta(days=1)),
                quantity=quantity,
                unit=charge.unit,
                unit_price=unit_price,
                amount=amount,
                vat_kind=str(vat_kind),
                vat_rate=vat_rate,
                estimated_intervals=flags[0],
                missing_intervals=flags[1],
                days=len(group),
                days_in_month=dim,
            )
        )
    return lines


def fuse_key(fuse: str) -> str:
    """Main fuse sizes as written by different sources ("3x25", "3x25A", "3 X 25 A") compare equal."""
    key = fuse.upper().replace(" ", "").replace("×", "X")
    return key[:-1] if key.endswith("A") else key


def basic_fee_charge(
    product: Product,
    main_fuse: str | None = None,
    contracted_flow_m3h: Decimal | None = None,
    contracted_power_kw: Decimal | None = None,
) -> Callable[[PriceRow], MonthlyCharge | None]:
    """The basic fee of a row: flat €/month, by main fuse, or a heating formula (annual fee / 12)."""

    def charge(row: PriceRow) -> MonthlyCharge | None:
        if row.basic_fee_formula is not None:
            formula = row.basic_fee_formula
            basis = contracted_flow_m3h if formula.basis == "flow_m3h" else contracted_power_kw
            if basis is None:
                raise CatalogueGapError(f"product {product.code} needs the point's {formula.basis}")
            return MonthlyCharge(Decimal(1), "day", formula.annual_fee(basis), divisor=12)
        if row.fuse_fees:
            fees = {fuse_key(k): v for k, v in row.fuse_fees.items()}
            if main_fuse is None or fuse_key(main_fuse) not in fees:
                raise CatalogueGapError(f"product {product.code} has no basic fee for main fuse {main_fuse!r}")
            return MonthlyCharge(Decimal(1), "day", fees[fuse_key(main_fuse)])
        if row.basic_fee_month is not None:
            return MonthlyCharge(Decimal(1), "day", row.basic_fee_month)
        return None

    return charge
