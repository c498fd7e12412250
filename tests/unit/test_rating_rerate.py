"""Re-rating gives delta lines per component; the same inputs twice give none."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np

from gateway.catalogue import load_catalogue
from gateway.rating.core import (
    AccountingPoint,
    Agreement,
    Grid,
    MeteringSeries,
    PricedLine,
    PriceSeries,
    ProductAssignment,
    Quality,
    delta_lines,
    rate_period,
)
from gateway.rating.core.rerate import total

CATALOGUE = load_catalogue(Path(__file__).resolve().parents[2] / "catalogue" / "demo.toml")
FI = "10YFI-1--------U"
D = Decimal
FIRST, END = date(2025, 2, 1), date(2025, 3, 1)
GRID = Grid.for_local_dates(FIRST, END, 15)
POINT = AccountingPoint(
    "643007574000000017",
    tax_class="1",
    main_fuse="3x25A",
    network_products=(ProductAssignment("SV-AIKA", date(2020, 1, 1)),),
)
AGREEMENT = Agreement("EM-SPOT", date(2024, 1, 1))


def metering(version: int = 1, changed: dict[int, int] | None = None) -> MeteringSeries:
    values = np.full(GRID.n, 400_000, dtype=np.int64)
    quality = np.zeros(GRID.n, dtype=np.uint8)
    for index, micro in (changed or {}).items():
        values[index], quality[index] = micro, Quality.REVISED
    return MeteringSeries(GRID.start, 15, values, quality, version=version)


def prices(bump_first_hour: str = "0") -> PriceSeries:
    hourly = [D("42.17") + (i % 24) for i in range(GRID.n // 4)]
    hourly[0] += D(bump_first_hour)
    return PriceSeries(FI, GRID.start, 60, tuple(hourly))


def rate(series: list[MeteringSeries], price: PriceSeries) -> list[PricedLine]:
    return rate_period(
        point=POINT,
        agreement=AGREEMENT,
        catalogue=CATALOGUE,
        period_start=FIRST,
        period_end=END,
        metering=series,
        prices=[price],
    )


def test_rerating_the_same_inputs_gives_no_delta() -> None:
    assert delta_lines(rate([metering()], prices()), rate([metering()], prices())) == []


def test_a_new_metering_version_gives_deltas_only_for_energy_components() -> None:
    before = rate([metering()], prices())
    after = rate([metering(), metering(2, {8: 2_400_000})], prices())  # 02:00 local on 1.2.: +2 kWh
    deltas = delta_lines(before, after)
    assert {(d.product_code, d.component) for d in deltas} == {
        ("EM-SPOT", "spot_energy"),
        ("EM-SPOT", "spot_margin"),
        ("SV-AIKA", "energy_night"),
        ("SV-AIKA", "electricity_tax"),
    }
    assert all(d.is_delta and d.quantity == D(2) and "delta" in d.flags for d in deltas)
    night = next(d for d in deltas if d.component == "energy_night")
    assert night.amount == D("0.02")  # 2 kWh × 0.0116 = 0.0232
    assert total(before) + total(deltas) == total(after)


def test_a_new_price_version_changes_only_the_spot_line() -> None:
    before = rate([metering()], prices())
    after = rate([metering()], prices(bump_first_hour="100.00"))
    deltas = delta_lines(before, after)
    assert [(d.component, d.quantity, d.amount) for d in deltas] == [("spot_energy", D(0), D("0.16"))]
    # 1.6 kWh in the first hour × 0.1 €/kWh more = 0.16 €


def test_a_line_that_disappears_is_credited_in_full() -> None:
    before = rate([metering()], prices())
    after = [ln for ln in before if ln.product_code != "EM-SPOT"]
    deltas = delta_lines(before, after)
    assert {d.component for d in deltas} == {"spot_energy", "spot_margin", "basic_fee"}
    assert all(
        d.amount == -ln.amount for d, ln in zip(deltas, [b for b in before if b.product_code == "EM-SPOT"], strict=True)
    )
    assert replace(deltas[0], is_delta=False).amount < 0
