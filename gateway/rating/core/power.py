"""Power fee determinants as pluggable, catalogue-configured rules (docs/market.md §3.2).

A rule aggregates energy into clock-aligned windows (15 or 60 min), converts each window to average kW,
weights night windows, takes the Nth highest over a lookback (the month or the last 12 months) and
subtracts a threshold. Weighting stays exact: a weight a/b multiplies night windows by a and day windows
by b, so windows compare as integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from gateway.rating.core.calendar import Grid
from gateway.rating.core.catalogue import PowerRule
from gateway.rating.core.money import KWH_PER_UNIT, MICRO, plain
from gateway.rating.core.quality import ESTIMATED_CODES, MISSING_CODES


@dataclass(frozen=True)
class PowerDeterminant:
    rule: str
    determinant_kw: Decimal  # weighted Nth-highest window power
    billed_kw: Decimal  # after the threshold, never negative
    window_start: datetime | None  # the window that set the determinant
    estimated_intervals: int
    missing_intervals: int


def determine_power(
    rule: PowerRule,
    grid: Grid,
    energy_micro: npt.NDArray[np.int64],
    quality: npt.NDArray[np.uint8],
    unit: str = "kWh",
) -> PowerDeterminant:
    """Apply ``rule`` to a 1-D series on ``grid`` that spans exactly the rule's lookback."""
    if rule.window_minutes < grid.resolution_minutes:
        raise ValueError(f"a {rule.window_minutes}-minute window needs metering at least that fine")
    missing = np.isin(quality, MISSING_CODES)
    values = np.where(missing, 0, energy_micro)
    per = rule.window_minutes // grid.resolution_minutes
    usable = grid.n - grid.n % per
    windows = values[:usable].reshape(-1, per).sum(axis=1)
    window_hours = grid.local_hour[:usable:per]
    weight_num, weight_den = rule.night_weight.as_integer_ratio()
    night = np.array([rule.is_night_hour(int(h)) for h in window_hours], dtype=np.bool_)
    weighted = windows * np.where(night, weight_num, weight_den)
    if weighted.size == 0:
        determinant, start = Decimal(0), None
    else:
        n = min(rule.nth_highest, weighted.size)
        order = np.argsort(-weighted, kind="stable")
        chosen = int(order[n - 1])
        kw_per_unit = KWH_PER_UNIT[unit] * 60 / rule.window_minutes
        determinant = plain(Decimal(int(weighted[chosen])) / weight_den / MICRO * kw_per_unit)
        start = grid.instant(chosen * per)
    billed = max(Decimal(0), determinant - rule.threshold_kw)
    return PowerDeterminant(
        rule=rule.id,
        determinant_kw=determinant,
        billed_kw=plain(billed),
        window_start=start,
        estimated_intervals=int(np.isin(quality, ESTIMATED_CODES).sum()),
        missing_intervals=int(missing.sum()),
    )
