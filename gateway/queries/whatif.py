"""What-if for customer service: an accounting point's consumption re-rated on every retail product of the
catalogue, side by side — energy, basic fees and VAT — with the current product marked.

One pass of the vectorised rating core rates every product at once: the energy matrix has one row for the
whole period and one per month (the same values, masked to the month), and the charges of all retail products
are its columns, so a year of quarter hours on every product is one matrix product. The whole-period row is
exactly what `gateway rate` computes for a product that supplies the whole period (same metering versions,
same charges, same per-line rounding), which the tests check; the monthly rows feed the chart (each month
rounded on its own, so months may differ from the period total by cents).

Unlike billing, a period with missing intervals is not held here: missing intervals add nothing and are
counted, so customer service can still compare products.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.queries.entities import as_utc, current_retail_product
from gateway.rating.catalogues import active_catalogue
from gateway.rating.core import CatalogueGapError, PricedLine, PricesMissingError, Segment, vat_breakdown
from gateway.rating.core.calendar import add_months, first_of_next_month, local_midnight_utc
from gateway.rating.core.charges import EnergyCharge, product_energy_charges
from gateway.rating.core.engine import rate_energy
from gateway.rating.core.fees import basic_fee_charge, days_between, prorated_lines
from gateway.rating.core.money import KWH_PER_UNIT
from gateway.rating.core.quality import ESTIMATED_CODES, MISSING_CODES
from gateway.rating.core.rate import assemble
from gateway.rating.errors import RatingInputError
from gateway.rating.prices import load_prices
from gateway.rating.service import ENERGY_PRODUCT, local_date
from gateway.rating.service import _metering as metering_inputs  # the same series, same precedence as `rate`
from gateway.store.tables import MeteringSeriesRow, SalesAgreementRow

DEFAULT_MONTHS: Final = 12
ZERO: Final = Decimal("0.00")


@dataclass(frozen=True)
class MonthCost:
    month: date
    energy: Decimal
    basic_fees: Decimal
    vat: Decimal

    @property
    def total_incl_vat(self) -> Decimal:
        return self.energy + self.basic_fees + self.vat

    def to_json(self) -> dict[str, Any]:
        return {"month": self.month.isoformat()[:7], "energy": str(self.energy), "basic_fees": str(self.basic_fees),
                "vat": str(self.vat), "total_incl_vat": str(self.total_incl_vat)}


@dataclass(frozen=True)
class ProductCost:
    product_code: str
    name: str
    kind: str
    current: bool
    energy: Decimal = ZERO
    basic_fees: Decimal = ZERO
    vat: Decimal = ZERO
    lines: tuple[PricedLine, ...] = ()
    months: tuple[MonthCost, ...] = ()
    unavailable: str | None = None  # why this product cannot be priced for the period (e.g. no spot prices)

    @property
    def total_excl_vat(self) -> Decimal:
        return self.energy + self.basic_fees

    @property
    def total_incl_vat(self) -> Decimal:
        return self.total_excl_vat + self.vat

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.product_code, "product_code": self.product_code, "name": self.name, "kind": self.kind,
            "current": self.current, "available": self.unavailable is None, "unavailable_reason": self.unavailable,
            "energy": str(self.energy), "basic_fees": str(self.basic_fees), "vat": str(self.vat),
            "total_excl_vat": str(self.total_excl_vat), "total_incl_vat": str(self.total_incl_vat),
            "months": [m.to_json() for m in self.months],
        }


@dataclass(frozen=True)
class WhatIf:
    accounting_point: str
    period_start: date
    period_end: date  # exclusive
    consumption_kwh: Decimal
    intervals: int
    estimated_intervals: int
    missing_intervals: int
    current_product: str | None
    products: list[ProductCost] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": f"{self.accounting_point}:{self.period_start}:{self.period_end}",
            "accounting_point": self.accounting_point, "from": self.period_start.isoformat(),
            "to": (self.period_end - timedelta(days=1)).isoformat(), "consumption_kwh": str(self.consumption_kwh),
            "intervals": self.intervals, "estimated_intervals": self.estimated_intervals,
            "missing_intervals": self.missing_intervals, "current_product": self.current_product,
            "items": [p.to_json() for p in self.products],
        }


def default_period(session: Session, gsrn: str) -> tuple[date, date]:
    """The last twelve months of stored consumption: up to the day after the last metered interval, back twelve
    months or to the first metered day, whichever is later."""
    first, last = session.execute(
        select(func.min(col(MeteringSeriesRow.period_start)), func.max(col(MeteringSeriesRow.period_end)))
        .where(col(MeteringSeriesRow.accounting_point) == gsrn, col(MeteringSeriesRow.product) == ENERGY_PRODUCT)
    ).one()
    if first is None or last is None:
        raise RatingInputError(f"accounting point {gsrn} has no stored consumption")
    end = local_date(as_utc(last), ceil=True)
    start = max(add_months(end, -DEFAULT_MONTHS), local_date(as_utc(first)))
    return start, end


def _month_starts(start: date, end: date) -> list[date]:
    months = []
    month = date(start.year, start.month, 1)
    while month < end:
        months.append(month)
        month = first_of_next_month(month)
    return months


def _month_of(line: PricedLine) -> date:
    day = local_date(line.period_start)
    return date(day.year, day.month, 1)


def _costs(lines: Sequence[PricedLine], vat_on_net_credit: bool) -> tuple[Decimal, Decimal, Decimal]:
    energy = sum((ln.amount for ln in lines if ln.component != "basic_fee"), ZERO)
    fees = sum((ln.amount for ln in lines if ln.component == "basic_fee"), ZERO)
    vat = sum((v.vat for v in vat_breakdown(lines, vat_on_net_credit)), ZERO)
    return energy, fees, vat


def what_if(session: Session, gsrn: str, start: date | None = None, end: date | None = None) -> WhatIf:
    """Rate local days start ≤ d < end (default: `default_period`) on every retail product."""
    if start is None or end is None:
        default_start, default_end = default_period(session, gsrn)
        start, end = start or default_start, end or default_end
    if end <= start:
        raise RatingInputError("the period must end after it starts")
    if (end - start).days > 3 * 366:
        raise RatingInputError("a what-if period is at most three years")
    active = active_catalogue(session)
    catalogue = active.catalogue
    series, _ = metering_inputs(session, gsrn, start, end)
    if not series:
        raise RatingInputError(f"accounting point {gsrn} has no consumption between {start} and {end}")
    try:
        data = assemble(series, start, end)
    except ValueError as error:
        raise RatingInputError(f"accounting point {gsrn}: {error}") from None
    grid = data.grid
    retail = sorted((p for p in catalogue.products.values() if p.segment is Segment.RETAIL), key=lambda p: p.code)
    zones = sorted({p.price_zone for p in retail if p.price_zone})
    prices = load_prices(session, zones, local_midnight_utc(start), local_midnight_utc(end))

    months = _month_starts(start, end)
    rows = 1 + len(months)
    energy = np.zeros((rows, grid.n), dtype=np.int64)
    quality = np.zeros((rows, grid.n), dtype=np.uint8)  # outside its month a row is "measured zero"
    energy[0], quality[0] = data.values, data.quality
    for i, month in enumerate(months, start=1):
        lo = grid.index_of(local_midnight_utc(max(month, start)))
        hi = grid.index_of(local_midnight_utc(min(first_of_next_month(month), end)))
        energy[i, lo:hi], quality[i, lo:hi] = data.values[lo:hi], data.quality[lo:hi]

    billed = np.ones(grid.n, dtype=np.bool_)
    charges: list[EnergyCharge] = []
    unavailable: dict[str, str] = {}
    for product in retail:
        try:
            charges += product_energy_charges(product, catalogue, grid, billed, prices)
        except (CatalogueGapError, PricesMissingError) as error:
            unavailable[product.code] = str(error)
    batch = rate_energy(energy, quality, charges, data.unit)
    energy_lines = [batch.lines(r, gsrn) for r in range(rows)]

    agreements = session.execute(
        select(SalesAgreementRow).where(col(SalesAgreementRow.accounting_point) == gsrn)
        .order_by(col(SalesAgreementRow.id))).scalars().all()
    current = current_retail_product(agreements)
    days = days_between(start, end)
    costs: list[ProductCost] = []
    for product in retail:
        base = ProductCost(product.code, product.name, product.kind, product.code == current)
        if product.code in unavailable:
            costs.append(ProductCost(**{**base.__dict__, "unavailable": unavailable[product.code]}))
            continue
        try:
            fees = prorated_lines(gsrn, product, catalogue, days, "basic_fee", basic_fee_charge(product))
        except CatalogueGapError as error:
            costs.append(ProductCost(**{**base.__dict__, "unavailable": str(error)}))
            continue
        lines = sorted([ln for ln in energy_lines[0] if ln.product_code == product.code] + fees,
                       key=lambda ln: (ln.legal_entity, ln.product_code, ln.component, ln.period_start))
        total_energy, total_fees, total_vat = _costs(lines, catalogue.vat_on_net_credit)
        monthly = []
        for i, month in enumerate(months, start=1):
            month_lines = [ln for ln in energy_lines[i] if ln.product_code == product.code]
            month_lines += [ln for ln in fees if _month_of(ln) == month]
            monthly.append(MonthCost(month, *_costs(month_lines, catalogue.vat_on_net_credit)))
        costs.append(ProductCost(product.code, product.name, product.kind, product.code == current, total_energy,
                                 total_fees, total_vat, tuple(lines), tuple(monthly)))

    present = ~np.isin(data.quality, MISSING_CODES)
    consumption = Decimal(int(data.values[present].sum())) / Decimal(1_000_000) * KWH_PER_UNIT[data.unit]
    return WhatIf(
        accounting_point=gsrn, period_start=start, period_end=end, consumption_kwh=consumption.quantize(
            Decimal("0.001")),
        intervals=grid.n, estimated_intervals=int(np.isin(data.quality, ESTIMATED_CODES).sum()),
        missing_intervals=int((~present).sum()),
        current_product=current, products=costs,
    )
