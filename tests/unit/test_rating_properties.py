"""Properties of the vectorised engine against an independent Decimal reference (randomised inputs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.catalogue import load_catalogue
from gateway.rating.core import (
    AccountingPoint,
    Agreement,
    Grid,
    MeteringSeries,
    MissingDataPolicy,
    PricedLine,
    PriceSeries,
    ProductAssignment,
    Quality,
    rate_period,
)
from tests.support.decimal_oracle import reference_energy_amounts, reference_line_amounts

CATALOGUE = load_catalogue(Path(__file__).resolve().parents[2] / "catalogue" / "demo.toml")
FI = "10YFI-1--------U"
RETAIL = ["EM-KIINTEA", "EM-AIKA", "EM-KAUSI", "EM-SPOT", "EM-HYBRIDI"]
NETWORK = ["SV-YLEIS", "SV-AIKA", "SV-KAUSI", "SV-TEHO-HELEN"]
ENERGY_COMPONENTS_EXCLUDED = {"basic_fee", "power_fee"}
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Case:
    first: date
    end: date
    resolution: int
    retail: str
    network: str
    move_in: date
    series: MeteringSeries
    prices: list[PriceSeries]

    @property
    def point(self) -> AccountingPoint:
        return AccountingPoint(
            "643007574000000017",
            tax_class="1",
            main_fuse="3x25A",
            network_products=(ProductAssignment(self.network, date(2020, 1, 1)),),
        )

    @property
    def agreement(self) -> Agreement:
        return Agreement(self.retail, self.move_in)

    def rate(self, first: date | None = None, end: date | None = None) -> list[PricedLine]:
        return rate_period(
            point=self.point,
            agreement=self.agreement,
            catalogue=CATALOGUE,
            period_start=first or self.first,
            period_end=end or self.end,
            metering=[self.series],
            prices=self.prices,
            policy=MissingDataPolicy.BILL_MARKED,
        )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    # 2022-10 … 2025-12 covers the 10 % VAT period, 25.5 %, DST days and both price resolutions
    first = date(2022, 10, 1) + timedelta(days=draw(st.integers(0, 1180)))
    end = first + timedelta(days=draw(st.integers(1, 40)))
    resolution = draw(st.sampled_from([15, 60]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    grid = Grid.for_local_dates(first, end, resolution)
    scale = draw(st.sampled_from([10**3, 10**6, 10**7, 10**11]))  # up to 100 MWh per interval: exact fallback
    values = rng.integers(0, scale, grid.n, dtype=np.int64)
    if draw(st.booleans()):  # values that land on exact half cents more often
        values = values - values % 50_000
    quality = rng.choice(
        np.array([Quality.MEASURED, Quality.REVISED, Quality.ESTIMATED, Quality.MISSING], dtype=np.uint8),
        grid.n,
        p=[0.94, 0.02, 0.02, 0.02],
    )
    price_resolution = draw(st.sampled_from([15, 60]))
    price_grid = Grid.for_local_dates(first, end, price_resolution)
    cents = rng.integers(-50_000, 400_000, price_grid.n)
    if draw(st.booleans()):
        cents = cents * 10 + rng.integers(0, 10, price_grid.n)  # three decimals
        prices = tuple(Decimal(int(c)).scaleb(-3) for c in cents)
    else:
        prices = tuple(Decimal(int(c)).scaleb(-2) for c in cents)
    return Case(
        first=first,
        end=end,
        resolution=resolution,
        retail=draw(st.sampled_from(RETAIL)),
        network=draw(st.sampled_from(NETWORK)),
        move_in=first + timedelta(days=draw(st.integers(0, (end - first).days - 1))),
        series=MeteringSeries(grid.start, resolution, values, quality),
        prices=[PriceSeries(FI, price_grid.start, price_resolution, prices)],
    )


def energy_lines(lines: list[PricedLine]) -> dict[tuple[object, ...], Decimal]:
    return {
        (ln.product_code, ln.component, ln.vat_rate, ln.period_start, ln.period_end): ln.amount
        for ln in lines
        if ln.component not in ENERGY_COMPONENTS_EXCLUDED
    }


@SETTINGS
@given(cases())
def test_engine_agrees_with_the_decimal_reference_to_the_cent(case: Case) -> None:
    engine = energy_lines(case.rate())
    oracle = reference_line_amounts(
        reference_energy_amounts(
            case.point, case.agreement, CATALOGUE, case.first, case.end, [case.series], case.prices
        )
    )
    assert engine == {k: v for k, v in oracle.items() if k in engine or v != 0}


@SETTINGS
@given(cases())
def test_line_amounts_sum_to_the_exact_interval_sum_within_half_a_cent_per_line(case: Case) -> None:
    engine = energy_lines(case.rate())
    exact = reference_energy_amounts(
        case.point, case.agreement, CATALOGUE, case.first, case.end, [case.series], case.prices
    )
    assert abs(sum(engine.values(), Decimal(0)) - sum(exact.values(), Decimal(0))) <= Decimal("0.005") * len(engine)


@SETTINGS
@given(cases(), st.data())
def test_rating_a_period_in_two_parts_gives_the_same_total_up_to_line_rounding(case: Case, data: st.DataObject) -> None:
    days = (case.end - case.first).days
    if days < 2:
        return
    middle = case.first + timedelta(days=data.draw(st.integers(1, days - 1)))
    whole = case.rate()
    parts = case.rate(case.first, middle) + case.rate(middle, case.end)

    def quantities(lines: list[PricedLine]) -> dict[tuple[str, str], Decimal]:
        result: dict[tuple[str, str], Decimal] = {}
        for ln in lines:
            if ln.unit != "day":
                key = (ln.product_code, ln.component)
                result[key] = result.get(key, Decimal(0)) + ln.quantity
        return result

    def total(lines: list[PricedLine]) -> Decimal:
        return sum((ln.amount for ln in lines if ln.component != "power_fee"), Decimal(0))

    assert quantities([ln for ln in whole if ln.component != "power_fee"]) == quantities(
        [ln for ln in parts if ln.component != "power_fee"]
    )
    basic_days = sum(ln.days or 0 for ln in whole if ln.component == "basic_fee")
    assert basic_days == sum(ln.days or 0 for ln in parts if ln.component == "basic_fee")
    tolerance = Decimal("0.005") * (len(whole) + len(parts))
    assert abs(total(whole) - total(parts)) <= tolerance
