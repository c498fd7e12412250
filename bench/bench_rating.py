"""Rating benchmark: N accounting points × one month of 15-minute data through the vectorised core.

Products: spot retail (EM-SPOT: spot + margin), time-of-day network (SV-AIKA: day/night) and electricity
tax class 1, from the demo catalogue. Printed next to two baselines measured in the same run:

* roofline: a NumPy matrix-vector product over the same values as float64 (memory bandwidth bound);
* pandas: a straightforward long-format merge + groupby computing the same per-point totals.

The rating core is ``rate_energy`` (int64 micro-kWh in, exact cents per point and line out). Building the
price/calendar layout once per period and materialising Decimal ``PricedLine`` objects are timed and printed
separately. A sample of points is checked line by line against the Decimal reference implementation.

Both the core and the roofline use BLAS for their products. The headline ratio is measured with BLAS pinned to
one thread (threadpoolctl): with its default threads the roofline takes both cores of this shared machine when
they are free and one when they are not, and the ratio swung from 3.5 % to 37 % between runs. The same
measurement with the default threads is printed beside it.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_rating.py [--points 10000]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_info, threadpool_limits

from gateway.catalogue import load_catalogue
from gateway.rating.core import (
    AccountingPoint,
    Agreement,
    EnergyBatch,
    EnergyCharge,
    Grid,
    MeteringSeries,
    PriceSeries,
    ProductAssignment,
    product_energy_charges,
    rate_energy,
)
from tests.support.decimal_oracle import reference_energy_amounts, reference_line_amounts

ROOT = Path(__file__).resolve().parents[1]
FI = "10YFI-1--------U"


def best_of(repeats: int, run: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--month", default="2026-01", help="local month YYYY-MM")
    parser.add_argument("--pandas-points", type=int, default=2_000, help="points in the pandas baseline")
    parser.add_argument("--sample", type=int, default=5, help="points checked against the Decimal reference")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    year, month = (int(v) for v in args.month.split("-"))
    first = date(year, month, 1)
    end = date(year + month // 12, month % 12 + 1, 1)
    catalogue = load_catalogue(ROOT / "catalogue" / "demo.toml")
    grid = Grid.for_local_dates(first, end, 15)
    rng = np.random.default_rng(2026)
    energy = rng.integers(0, 1_500_000, (args.points, grid.n), dtype=np.int64)  # 0 … 1.5 kWh per quarter
    quality = np.zeros(energy.shape, dtype=np.uint8)
    price_values = tuple(Decimal(int(c)).scaleb(-2) for c in rng.integers(-5_000, 40_000, grid.n))
    prices = [PriceSeries(FI, grid.start, 15, price_values)]
    values = energy.size
    print(f"{args.points} points × {grid.n} quarter hours ({first} … {end}) = {values:,} values")

    billed = np.ones(grid.n, dtype=np.bool_)
    layout_s, charges_obj = best_of(
        args.repeats,
        lambda: (
            product_energy_charges(catalogue.product("EM-SPOT"), catalogue, grid, billed, prices)
            + product_energy_charges(catalogue.product("SV-AIKA"), catalogue, grid, billed, tax_class="1")
        ),
    )
    charges = cast(list[EnergyCharge], charges_obj)
    vector = rng.random(grid.n)
    with threadpool_limits(limits=1, user_api="blas"):
        core_s, batch_obj = best_of(args.repeats, lambda: rate_energy(energy, quality, charges))
        roof_s = roofline_seconds(energy, vector, args.repeats)
    default_core_s, _ = best_of(args.repeats, lambda: rate_energy(energy, quality, charges))
    default_roof_s = roofline_seconds(energy, vector, args.repeats)
    batch = cast(EnergyBatch, batch_obj)
    lines_s, _ = best_of(1, lambda: [batch.lines(p, str(p)) for p in range(args.points)])
    blas = ", ".join(f"{i.get('internal_api')} {i.get('num_threads')} threads" for i in threadpool_info()
                     if i.get("user_api") == "blas") or "no BLAS library found"

    pandas_points = min(args.pandas_points, args.points)
    pandas_s, totals_obj = best_of(1, lambda: pandas_totals_of(energy[:pandas_points], grid, catalogue, prices))
    pandas_totals = cast(np.ndarray, totals_obj)

    rate = values / core_s
    roof_rate = values / roof_s
    pandas_rate = pandas_points * grid.n / pandas_s
    print(f"layout (prices, calendar, VAT, tax per interval, once per period): {layout_s * 1e3:8.1f} ms")
    print(f"rating core (exact cents per point and line):  {core_s:8.3f} s  {rate / 1e6:8.1f} M values/s")
    print(f"  + Decimal PricedLine objects for all points:  {lines_s:8.3f} s")
    print(f"roofline (float64 matrix-vector, same values):  {roof_s:8.3f} s  {roof_rate / 1e6:8.1f} M values/s")
    print(f"pandas baseline ({pandas_points} points):           {pandas_s:8.3f} s  {pandas_rate / 1e6:8.1f} M values/s")
    print(f"core / roofline = {rate / roof_rate:.1%}   (target ≥ 10 %; BLAS pinned to one thread)")
    print(f"  with BLAS's default threads ({blas}): core {values / default_core_s / 1e6:.1f} M values/s, "
          f"roofline {values / default_roof_s / 1e6:.1f} M values/s, core / roofline = "
          f"{default_roof_s / default_core_s:.1%}")
    print(f"core / pandas   = {rate / pandas_rate:.1f}×   (target ≥ 20×)")
    print(f"core + lines    = {values / (core_s + lines_s) / 1e6:.1f} M values/s")

    engine_cents = engine_totals(batch, pandas_points)
    agree = np.mean(np.abs(engine_cents - np.round(pandas_totals * 100)) <= 1)
    print(f"pandas float totals within 1 cent of the engine: {agree:.2%} of point totals")

    checked = check_against_reference(catalogue, grid, energy, prices, batch, args.sample, first, end)
    print(f"Decimal reference: {checked} lines of {args.sample} sampled points identical to the cent")


def roofline_seconds(energy: np.ndarray, vector: np.ndarray, repeats: int) -> float:
    """Memory-bandwidth roofline: one float64 matrix-vector product over the same values."""
    as_float = energy.astype(np.float64)
    seconds, _ = best_of(repeats, lambda: as_float @ vector)
    return seconds


def engine_totals(batch: EnergyBatch, points: int) -> np.ndarray:
    return np.asarray(batch.cents[:points].sum(axis=1), dtype=np.float64)


def pandas_totals_of(energy: np.ndarray, grid: Grid, catalogue: object, prices: list[PriceSeries]) -> np.ndarray:
    """The straightforward pandas way: long table, merge per-interval prices, multiply, group by point."""
    cat = catalogue
    points, n = energy.shape
    long = pd.DataFrame(
        {"point": np.repeat(np.arange(points), n), "interval": np.tile(np.arange(n), points), "micro": energy.ravel()}
    )
    hour = grid.local_hour
    day = (hour >= 7) & (hour < 22)
    spot_row = cat.products["EM-SPOT"].prices.rows[0].value  # type: ignore[attr-defined]
    net_row = cat.products["SV-AIKA"].prices.rows[0].value  # type: ignore[attr-defined]
    tax = cat.electricity_tax["1"].rows[0].value.total  # type: ignore[attr-defined]
    intervals = pd.DataFrame(
        {
            "interval": np.arange(n),
            "spot": np.array([float(p) for p in prices[0].prices_eur_per_mwh]) / 1000,
            "margin": float(spot_row.energy["margin"]),
            "network": np.where(day, float(net_row.energy["day"]), float(net_row.energy["night"])),
            "tax": float(tax),
            "is_day": day,
        }
    )
    merged = long.merge(intervals, on="interval")
    merged["kwh"] = merged["micro"] / 1e6
    merged["spot_amount"] = merged["kwh"] * merged["spot"]
    merged["margin_amount"] = merged["kwh"] * merged["margin"]
    merged["network_amount"] = merged["kwh"] * merged["network"]
    merged["tax_amount"] = merged["kwh"] * merged["tax"]
    lines = merged.groupby(["point", "is_day"])[["spot_amount", "margin_amount", "network_amount", "tax_amount"]].sum()
    per_point_day = lines.groupby("point").sum()
    # round per line like the engine: spot, margin, tax are one line each; network one per day/night
    network = lines["network_amount"].round(2).groupby("point").sum()
    rounded = per_point_day[["spot_amount", "margin_amount", "tax_amount"]].round(2).sum(axis=1) + network
    return np.asarray(rounded.to_numpy(), dtype=np.float64)


def check_against_reference(
    catalogue: object,
    grid: Grid,
    energy: np.ndarray,
    prices: list[PriceSeries],
    batch: EnergyBatch,
    sample: int,
    first: date,
    end: date,
) -> int:
    rng = np.random.default_rng(1)
    point = AccountingPoint(
        "643007574000000017",
        tax_class="1",
        main_fuse="3x25A",
        network_products=(ProductAssignment("SV-AIKA", date(2020, 1, 1)),),
    )
    agreement = Agreement("EM-SPOT", date(2020, 1, 1))
    checked = 0
    for p in rng.choice(energy.shape[0], size=min(sample, energy.shape[0]), replace=False):
        series = MeteringSeries.from_micro(grid.start, 15, energy[p])
        reference = reference_line_amounts(
            reference_energy_amounts(point, agreement, catalogue, first, end, [series], prices)  # type: ignore[arg-type]
        )
        lines = batch.lines(int(p), point.id)
        engine = {
            (ln.product_code, ln.component, ln.vat_rate, ln.period_start, ln.period_end): ln.amount for ln in lines
        }
        if engine != reference:
            raise SystemExit(f"point {p}: engine {engine} != reference {reference}")
        checked += len(engine)
    return checked


if __name__ == "__main__":
    main()
