"""End-to-end rating benchmark: N accounting points × one month of 15-minute data read FROM THE STORE.

Setup (not timed): a fresh migrated database per backend, the demo catalogue loaded as a catalogue
version, a month of spot prices imported through the price store, and one packed ``metering_series``
row per point (int64 micro-kWh + quality bytes, as the receive pipeline stores them).

Timed end to end, per run: one query streaming every point's packed series into a preallocated
points × intervals matrix (``gateway.rating.load_metering_matrix``), the active catalogue and the month's
prices from the store, the per-period layout (spot retail EM-SPOT, time-of-day network SV-AIKA,
electricity tax class 1) and the vectorised core ``rate_energy`` down to exact cents per point and line.
Printed next to the rating core alone and the two baselines of ``bench/bench_rating.py`` measured in the
same run (NumPy matrix-vector roofline, pandas). The store-fed result is checked to be identical to the
in-memory one, and a sample of points line by line against the Decimal reference.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_rating_e2e.py [--points 10000]``; PostgreSQL is included
when ``GATEWAY_BENCH_POSTGRES_URL`` or ``GATEWAY_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import argparse
import itertools
import time
from datetime import date
from decimal import Decimal
from typing import Any, cast

import numpy as np
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bench.bench_rating import (
    FI,
    ROOT,
    best_of,
    check_against_reference,
    pandas_totals_of,
    roofline_seconds,
)
from bench.common import backends, fresh_database, print_table
from gateway.catalogue import load_catalogue
from gateway.domain.identifiers import make_gsrn
from gateway.rating.batch import load_metering_matrix
from gateway.rating.catalogues import active_catalogue, store_catalogue
from gateway.rating.core import EnergyBatch, Grid, PriceSeries, product_energy_charges, rate_energy
from gateway.rating.prices import import_prices, load_prices
from gateway.rating.service import ENERGY_PRODUCT
from gateway.store.db import make_engine
from gateway.store.migrate import upgrade
from gateway.store.tables import MeteringSeriesRow
from outbox.types import utcnow

INSERT_CHUNK = 250


def day_slices(grid: Grid) -> list[tuple[int, int]]:
    """Index ranges of the local days of the grid (92, 96 or 100 quarters)."""
    ordinals = grid.local_ordinal
    edges = [0, *(np.flatnonzero(np.diff(ordinals)) + 1).tolist(), grid.n]
    return list(itertools.pairwise(edges))


def populate(engine: Engine, grid: Grid, energy: np.ndarray, prices: list[PriceSeries], daily: bool) -> list[str]:
    """One packed row per point and month, or (``daily``) per point and local day as E66 usually arrive."""
    points = [make_gsrn(f"6430075740{i:07d}") for i in range(energy.shape[0])]
    slices = day_slices(grid) if daily else [(0, grid.n)]
    with Session(engine) as s, s.begin():
        store_catalogue(s, (ROOT / "catalogue" / "demo.toml").read_text(), "toml", "catalogue/demo.toml")
        import_prices(s, prices, source="bench", sha256="-", fmt="csv")
    now = utcnow()
    chunk = max(1, INSERT_CHUNK // len(slices))
    for lo in range(0, len(points), chunk):
        rows: list[dict[str, Any]] = [{
            "accounting_point": points[i], "product": ENERGY_PRODUCT, "unit": "kWh", "resolution": "PT15M",
            "period_start": grid.instant(a), "period_end": grid.instant(b), "version": 1, "positions": b - a,
            "values": energy[i, a:b].astype("<i8").tobytes(), "quality": bytes(b - a),
            "transaction_id": f"bench-{i}-{a}", "message_pk": 0, "received_at": now,
        } for i in range(lo, min(lo + chunk, len(points))) for a, b in slices]
        with Session(engine) as s, s.begin():
            s.execute(insert(MeteringSeriesRow), rows)
    return points


def end_to_end(engine: Engine, grid: Grid) -> tuple[EnergyBatch, dict[str, float]]:
    """Store → matrix → layout → exact cents; returns the batch and the seconds of each step."""
    steps: dict[str, float] = {}
    started = time.perf_counter()
    with engine.connect() as conn:
        matrix = load_metering_matrix(conn, grid)
    steps["load"] = time.perf_counter() - started
    mark = time.perf_counter()
    with Session(engine) as s:
        catalogue = active_catalogue(s).catalogue
        prices = load_prices(s, [FI], grid.start, grid.end)
    billed = np.ones(grid.n, dtype=np.bool_)
    charges = product_energy_charges(catalogue.product("EM-SPOT"), catalogue, grid, billed, prices) + (
        product_energy_charges(catalogue.product("SV-AIKA"), catalogue, grid, billed, tax_class="1")
    )
    steps["layout"] = time.perf_counter() - mark
    mark = time.perf_counter()
    batch = rate_energy(matrix.energy, matrix.quality, charges)
    steps["core"] = time.perf_counter() - mark
    steps["total"] = time.perf_counter() - started
    return batch, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--month", default="2026-01", help="local month YYYY-MM")
    parser.add_argument("--pandas-points", type=int, default=1_000)
    parser.add_argument("--sample", type=int, default=3, help="points checked against the Decimal reference")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--daily", action="store_true", help="store one row per point and local day (E66 style)")
    args = parser.parse_args()

    year, month = (int(v) for v in args.month.split("-"))
    first, end = date(year, month, 1), date(year + month // 12, month % 12 + 1, 1)
    grid = Grid.for_local_dates(first, end, 15)
    rng = np.random.default_rng(2026)
    energy = rng.integers(0, 1_500_000, (args.points, grid.n), dtype=np.int64)
    prices = [PriceSeries(FI, grid.start, 15, tuple(Decimal(int(c)).scaleb(-2)
                                                     for c in rng.integers(-5_000, 40_000, grid.n)))]
    values = energy.size
    print(f"{args.points} points × {grid.n} quarter hours ({first} … {end}) = {values:,} values, "
          f"{energy.nbytes / 2**20:.0f} MiB packed")

    # The rating core alone and the baselines, on the in-memory matrix, in this same run.
    catalogue = load_catalogue(ROOT / "catalogue" / "demo.toml")
    billed = np.ones(grid.n, dtype=np.bool_)
    charges = product_energy_charges(catalogue.product("EM-SPOT"), catalogue, grid, billed, prices) + (
        product_energy_charges(catalogue.product("SV-AIKA"), catalogue, grid, billed, tax_class="1")
    )
    quality = np.zeros(energy.shape, dtype=np.uint8)
    core_s, core_obj = best_of(args.repeats, lambda: rate_energy(energy, quality, charges))
    in_memory = cast(EnergyBatch, core_obj)
    roof_s = roofline_seconds(energy, rng.random(grid.n), args.repeats)
    pandas_points = min(args.pandas_points, args.points)
    pandas_s, _ = best_of(1, lambda: pandas_totals_of(energy[:pandas_points], grid, catalogue, prices))
    rows = [
        ["rating core alone (in memory)", f"{core_s:.3f}", f"{values / core_s / 1e6:,.1f}"],
        ["roofline: float64 matrix-vector", f"{roof_s:.3f}", f"{values / roof_s / 1e6:,.1f}"],
        [f"pandas baseline ({pandas_points} points)", f"{pandas_s:.3f}",
         f"{pandas_points * grid.n / pandas_s / 1e6:,.1f}"],
    ]

    for backend in backends():
        with fresh_database(backend) as url:
            engine = make_engine(url)
            upgrade(engine)
            started = time.perf_counter()
            populate(engine, grid, energy, prices, args.daily)
            shape = "per point and day" if args.daily else "per point and month"
            print(f"{backend}: stored the packed series ({shape}) in {time.perf_counter() - started:.1f} s "
                  "(setup, not timed)")
            best: dict[str, float] | None = None
            batch: EnergyBatch | None = None
            for _ in range(args.repeats):
                batch, steps = end_to_end(engine, grid)
                if best is None or steps["total"] < best["total"]:
                    best = steps
            assert best is not None and batch is not None
            if not (np.array_equal(batch.cents, in_memory.cents)
                    and np.array_equal(batch.quantity_micro, in_memory.quantity_micro)):
                raise SystemExit(f"{backend}: the store-fed result differs from the in-memory one")
            rate = values / best["total"]
            rows.append([f"end to end from {backend} (load {best['load']:.3f} s + layout {best['layout']:.3f} s "
                         f"+ core {best['core']:.3f} s)", f"{best['total']:.3f}", f"{rate / 1e6:,.1f}"])
            print(f"{backend}: end to end {rate / 1e6:,.1f} M values/s (target ≥ 20)")
            engine.dispose()

    print()
    print_table(["path", "seconds", "M values/s"], rows)
    checked = check_against_reference(catalogue, grid, energy, prices, in_memory, args.sample, first, end)
    print(f"\nstore-fed cents identical to in-memory cents; Decimal reference: {checked} lines of "
          f"{args.sample} sampled points identical to the cent")


if __name__ == "__main__":
    main()
