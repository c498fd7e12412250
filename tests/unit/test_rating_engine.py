"""The vectorised core: exact cents, half-up ties, batch = one by one, the exact fallback for huge cells."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np

from gateway.catalogue import load_catalogue
from gateway.rating.core import EnergyCharge, Grid, PriceSeries, product_energy_charges, rate_energy
from gateway.rating.core.engine import EXACT_LIMIT

CATALOGUE = load_catalogue(Path(__file__).resolve().parents[2] / "catalogue" / "demo.toml")
FI = "10YFI-1--------U"
D = Decimal
DAY = date(2025, 1, 15)
NEXT = date(2025, 1, 16)


def spot_charges(grid: Grid, prices: list[str]) -> list[EnergyCharge]:
    series = PriceSeries(FI, grid.start, 60, tuple(D(p) for p in prices))
    billed = np.ones(grid.n, dtype=np.bool_)
    return product_energy_charges(CATALOGUE.product("EM-SPOT"), CATALOGUE, grid, billed, [series])


def test_exact_half_cents_round_away_from_zero() -> None:
    grid = Grid.for_local_dates(DAY, NEXT, 60)
    energy = np.zeros((2, grid.n), dtype=np.int64)
    energy[:, 0] = 1_000_000  # 1 kWh in the first hour only
    prices = ["5.00"] + ["0"] * 23  # 1 kWh × 0.005 €/kWh = 0.005 €
    batch = rate_energy(energy, None, spot_charges(grid, prices))
    assert batch.lines(0, "a")[0].amount == D("0.01")
    negative = rate_energy(energy, None, spot_charges(grid, ["-5.00"] + ["0"] * 23))
    assert negative.lines(0, "a")[0].amount == D("-0.01")
    assert negative.exact_amount(0, 0) == D("-0.005")


def test_a_batch_of_points_rates_exactly_like_each_point_alone() -> None:
    grid = Grid.for_local_dates(date(2025, 3, 1), date(2025, 4, 1), 15)
    rng = np.random.default_rng(7)
    energy = rng.integers(0, 3_000_000, (40, grid.n), dtype=np.int64)
    prices = [f"{v / 100:.2f}" for v in rng.integers(-50_000, 300_000, grid.n // 4)]
    charges = spot_charges(grid, prices) + product_energy_charges(
        CATALOGUE.product("SV-AIKA"), CATALOGUE, grid, np.ones(grid.n, dtype=np.bool_), tax_class="1"
    )
    batch = rate_energy(energy, np.zeros(energy.shape, dtype=np.uint8), charges)
    for p in range(energy.shape[0]):
        alone = rate_energy(energy[p : p + 1], None, charges)
        assert batch.lines(p, "x") == alone.lines(0, "x")


def test_cells_beyond_float_exactness_are_recomputed_with_integers() -> None:
    grid = Grid.for_local_dates(DAY, NEXT, 15)
    energy = np.full((1, grid.n), 123_456_789_123, dtype=np.int64)  # 123 MWh per quarter hour
    prices = ["3999.99"] * 24
    batch = rate_energy(energy, None, spot_charges(grid, prices))
    spot = 0
    assert float(energy.sum()) * 3_999_990 >= EXACT_LIMIT and (0, spot) in batch.overflow
    exact = D(123_456_789_123 * 96) / 10**6 * D("3.99999")
    assert batch.exact_amount(0, spot) == exact
    assert batch.lines(0, "big")[0].amount == exact.quantize(D("0.01"), rounding="ROUND_HALF_UP")


def test_missing_values_never_reach_the_amount_and_are_counted_per_line() -> None:
    grid = Grid.for_local_dates(DAY, NEXT, 60)
    energy = np.full((1, grid.n), 1_000_000, dtype=np.int64)
    energy[0, 3] = 999_000_000  # garbage under a missing flag must not be billed
    quality = np.zeros((1, grid.n), dtype=np.uint8)
    quality[0, 3] = 5  # Quality.MISSING
    quality[0, 4] = 3  # Quality.ESTIMATED
    batch = rate_energy(energy, quality, spot_charges(grid, ["10.00"] * 24))
    spot = batch.lines(0, "p")[0]
    assert (spot.quantity, spot.amount, spot.missing_intervals, spot.estimated_intervals) == (D(23), D("0.23"), 1, 1)


def test_a_line_whose_intervals_are_all_missing_is_still_shown_and_marked() -> None:
    grid = Grid.for_local_dates(DAY, NEXT, 60)
    energy = np.full((1, grid.n), 1_000_000, dtype=np.int64)
    quality = np.full((1, grid.n), 5, dtype=np.uint8)  # Quality.MISSING everywhere
    (spot, margin) = rate_energy(energy, quality, spot_charges(grid, ["10.00"] * 24)).lines(0, "p")
    assert (spot.quantity, spot.amount, spot.missing_intervals, spot.flags) == (D(0), D("0.00"), 24, ("missing",))
    assert margin.missing_intervals == 24
