"""Spot prices aligned to a metering grid, both ways, in exact integer quanta.

Quarter energy against hourly prices repeats the hour's price; hourly energy against quarter prices uses
the mean of the four quarters (docs/market.md §3.1). To keep that mean exact the aligned price is returned as
a numerator per interval and one common denominator.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from gateway.rating.core.calendar import Grid
from gateway.rating.core.series import PriceSeries

QUARTER = 15


class PricesMissingError(ValueError):
    """No spot price for some interval that must be billed."""


def quarter_prices(
    prices: Sequence[PriceSeries], zone: str, grid: Grid
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Quanta per quarter hour over the grid's span and a mask of the quarters that have a price.

    Later series in ``prices`` override earlier ones where they overlap (the caller passes the latest
    version last).
    """
    n_quarters = grid.n * grid.resolution_minutes // QUARTER
    values = np.zeros(n_quarters, dtype=np.int64)
    present = np.zeros(n_quarters, dtype=np.bool_)
    for series in prices:
        if series.zone != zone:
            continue
        per_price = series.resolution_minutes // QUARTER
        quanta = np.repeat(series.quanta(), per_price)
        offset = int((series.start - grid.start).total_seconds()) // (QUARTER * 60)
        lo, hi = max(0, offset), min(n_quarters, offset + len(quanta))
        if lo >= hi:
            continue
        values[lo:hi] = quanta[lo - offset : hi - offset]
        present[lo:hi] = True
    return values, present


def spot_on_grid(
    prices: Sequence[PriceSeries], zone: str, grid: Grid
) -> tuple[npt.NDArray[np.int64], int, npt.NDArray[np.bool_]]:
    """(numerator per grid interval, denominator, mask of intervals with a complete price)."""
    values, present = quarter_prices(prices, zone, grid)
    if grid.resolution_minutes == QUARTER:
        return values, 1, present
    per = grid.resolution_minutes // QUARTER
    complete = np.asarray(present.reshape(grid.n, per).all(axis=1), dtype=np.bool_)
    summed: npt.NDArray[np.int64] = values.reshape(grid.n, per).sum(axis=1)
    return summed, per, complete
