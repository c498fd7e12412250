"""``rate_period``: every priced line of one accounting point over a span of local days."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from gateway.rating.core.calendar import Grid, add_months, first_of_next_month, local_midnight_utc
from gateway.rating.core.catalogue import Catalogue, MissingDataPolicy, PowerRule, PriceRow, Product, Segment
from gateway.rating.core.charges import EnergyCharge, product_energy_charges
from gateway.rating.core.engine import rate_energy
from gateway.rating.core.fees import MonthlyCharge, basic_fee_charge, prorated_lines, supply_days
from gateway.rating.core.inputs import AccountingPoint, Agreement, ProductAssignment
from gateway.rating.core.lines import PricedLine
from gateway.rating.core.power import determine_power
from gateway.rating.core.quality import MISSING_CODES, Quality
from gateway.rating.core.series import MeteringSeries, PriceSeries


class PeriodHeldError(Exception):
    """The period has missing intervals and the policy is to hold it (docs/market.md §3.5)."""

    def __init__(self, accounting_point: str, missing_intervals: int, first_missing: datetime) -> None:
        super().__init__(
            f"accounting point {accounting_point}: {missing_intervals} missing interval(s) from "
            f"{first_missing.isoformat()}; period held"
        )
        self.accounting_point = accounting_point
        self.missing_intervals = missing_intervals
        self.first_missing = first_missing


@dataclass(frozen=True, eq=False)
class Assembled:
    grid: Grid
    values: npt.NDArray[np.int64]
    quality: npt.NDArray[np.uint8]
    unit: str


def assemble(series: Sequence[MeteringSeries], first_day: date, end_day: date) -> Assembled:
    """The latest value of every interval of the local days, missing where no series covers it.

    Series with a higher ``version`` win where they overlap; all must share resolution and unit.
    """
    resolutions = {s.resolution_minutes for s in series}
    units = {s.unit for s in series}
    if len(resolutions) > 1 or len(units) > 1:
        raise ValueError(f"one period must have one resolution and unit, got {resolutions} / {units}")
    resolution = resolutions.pop() if resolutions else 60
    grid = Grid.for_local_dates(first_day, end_day, resolution)
    values = np.zeros(grid.n, dtype=np.int64)
    quality = np.full(grid.n, Quality.MISSING, dtype=np.uint8)
    for s in sorted(series, key=lambda s: s.version):
        offset = int((s.start - grid.start) / grid.step)
        lo, hi = max(0, offset), min(grid.n, offset + len(s.values))
        if lo < hi:
            values[lo:hi] = s.values[lo - offset : hi - offset]
            quality[lo:hi] = s.quality[lo - offset : hi - offset]
    return Assembled(grid, values, quality, units.pop() if units else "kWh")


def _billed_mask(grid: Grid, first_day: date, end_day: date | None) -> npt.NDArray[np.bool_]:
    lo = grid.index_of(local_midnight_utc(first_day))
    hi = grid.n if end_day is None else grid.index_of(local_midnight_utc(end_day))
    mask = np.zeros(grid.n, dtype=np.bool_)
    mask[lo:hi] = True
    return mask


def _assignments(
    point: AccountingPoint, agreement: Agreement | None, catalogue: Catalogue
) -> list[tuple[Product, ProductAssignment]]:
    wanted: list[tuple[ProductAssignment, Segment]] = []
    if agreement is not None:
        wanted.append((agreement.as_assignment(), Segment.RETAIL))
    wanted += [(a, Segment.NETWORK) for a in point.network_products]
    wanted += [(a, Segment.DISTRICT_HEATING) for a in point.heating_products]
    found = []
    for assignment, segment in wanted:
        product = catalogue.product(assignment.product_code)
        if product.segment is not segment:
            raise ValueError(f"product {product.code} is a {product.segment} product, assigned as {segment}")
        found.append((product, assignment))
    return found


def rate_period(
    *,
    point: AccountingPoint,
    agreement: Agreement | None,
    catalogue: Catalogue,
    period_start: date,
    period_end: date,
    metering: Sequence[MeteringSeries],
    prices: Sequence[PriceSeries] = (),
    policy: MissingDataPolicy | None = None,
) -> list[PricedLine]:
    """Rate local days ``period_start`` ≤ day < ``period_end`` of one accounting point.

    ``metering`` may reach back further than the period: power rules with a 12-month lookback read it.
    Raises ``PeriodHeldError`` when intervals are missing and the policy is HOLD, ``PricesMissingError``
    when a spot price is missing and ``CatalogueGapError`` when a price/tax/VAT row is missing.
    """
    if period_end <= period_start:
        raise ValueError("period_end must be after period_start")
    policy = policy or catalogue.missing_data_policy
    data = assemble(metering, period_start, period_end)
    grid = data.grid
    assignments = _assignments(point, agreement, catalogue)

    charges: list[EnergyCharge] = []
    billed_any = np.zeros(grid.n, dtype=np.bool_)
    fee_lines: list[PricedLine] = []
    for product, assignment in assignments:
        days = supply_days(period_start, period_end, assignment.start, assignment.end)
        if not days:
            continue
        billed = _billed_mask(grid, max(period_start, assignment.start), assignment.end)
        billed_any |= billed
        tax_class = point.tax_class if product.segment is Segment.NETWORK else None
        if product.segment is Segment.NETWORK and tax_class is None:
            raise ValueError(f"accounting point {point.id} has no electricity tax class")
        charges.extend(product_energy_charges(product, catalogue, grid, billed, prices, tax_class))
        fee_lines.extend(
            prorated_lines(
                point.id,
                product,
                catalogue,
                days,
                "basic_fee",
                basic_fee_charge(product, point.main_fuse, point.contracted_flow_m3h, point.contracted_power_kw),
            )
        )
        if product.kind == "power":
            assert product.power_rule is not None
            rule = catalogue.power_rules[product.power_rule]
            fee_lines.extend(_power_fee_lines(point.id, product, catalogue, rule, days, metering, assignment))

    missing = billed_any & np.isin(data.quality, MISSING_CODES)
    if policy is MissingDataPolicy.HOLD and missing.any():
        raise PeriodHeldError(point.id, int(missing.sum()), grid.instant(int(np.flatnonzero(missing)[0])))

    batch = rate_energy(data.values[None, :], data.quality[None, :], charges, data.unit)
    lines = batch.lines(0, point.id) + fee_lines
    return sorted(lines, key=lambda ln: (ln.legal_entity, ln.product_code, ln.component, ln.period_start))


def _power_fee_lines(
    point_id: str,
    product: Product,
    catalogue: Catalogue,
    rule: PowerRule,
    days: Sequence[date],
    metering: Sequence[MeteringSeries],
    assignment: ProductAssignment,
) -> list[PricedLine]:
    """Power fee per month; the determinant only reads the lookback while this product was supplied."""
    lines = []
    months = sorted({date(d.year, d.month, 1) for d in days})
    for month in months:
        first = max(add_months(month, 1 - rule.lookback_months), assignment.start)
        end = first_of_next_month(month) if assignment.end is None else min(first_of_next_month(month), assignment.end)
        lookback = assemble(metering, first, end)
        determinant = determine_power(rule, lookback.grid, lookback.values, lookback.quality, lookback.unit)
        month_days = [d for d in days if (d.year, d.month) == (month.year, month.month)]

        def charge(row: PriceRow, kw: Decimal = determinant.billed_kw) -> MonthlyCharge | None:
            price = row.power_fee_kw_month
            return None if price is None else MonthlyCharge(kw, "kW", price)

        lines.extend(
            prorated_lines(
                point_id,
                product,
                catalogue,
                month_days,
                "power_fee",
                charge,
                flags=(determinant.estimated_intervals, determinant.missing_intervals),
            )
        )
    return lines
