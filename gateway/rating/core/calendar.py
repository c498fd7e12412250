"""The UTC interval grid of a rating period and its local (Europe/Helsinki) calendar.

Every interval is classified by its own start instant converted to local time; local midnights become
22:00Z or 21:00Z, and the DST days have 92 or 100 quarter hours without any special case, because the grid
itself is uniform in UTC.
"""

from __future__ import annotations

import calendar as _stdcalendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

import numpy as np
import numpy.typing as npt

from gateway.domain.periods import HELSINKI, local_midnight_utc
from gateway.rating.core.series import require_utc

__all__ = ["HELSINKI", "Grid", "add_months", "days_in_month", "epoch_seconds", "first_of_next_month",
           "local_midnight_utc"]


def days_in_month(day: date) -> int:
    return _stdcalendar.monthrange(day.year, day.month)[1]


def first_of_next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def epoch_seconds(instant: datetime) -> int:
    return int(instant.timestamp())


@dataclass(frozen=True)
class Grid:
    """``n`` intervals of ``resolution_minutes`` from ``start`` (UTC)."""

    start: datetime
    resolution_minutes: int
    n: int

    def __post_init__(self) -> None:
        require_utc(self.start, "grid start")

    @classmethod
    def for_local_dates(cls, first_day: date, end_day: date, resolution_minutes: int) -> Grid:
        """The grid of local days ``first_day`` ≤ day < ``end_day``."""
        start, end = local_midnight_utc(first_day), local_midnight_utc(end_day)
        n = int((end - start) / timedelta(minutes=resolution_minutes))
        return cls(start, resolution_minutes, n)

    @property
    def step(self) -> timedelta:
        return timedelta(minutes=self.resolution_minutes)

    @property
    def end(self) -> datetime:
        return self.start + self.n * self.step

    def instant(self, index: int) -> datetime:
        return self.start + index * self.step

    def index_of(self, instant: datetime) -> int:
        """Index of the interval starting at ``instant``, clipped to ``0..n``."""
        offset = (instant - self.start) / self.step
        return max(0, min(self.n, int(np.ceil(offset))))

    @cached_property
    def epoch(self) -> npt.NDArray[np.int64]:
        """Start instants as POSIX seconds."""
        return epoch_seconds(self.start) + np.arange(self.n, dtype=np.int64) * (self.resolution_minutes * 60)

    @cached_property
    def _local_hours(self) -> tuple[npt.NDArray[np.int64], ...]:
        # Helsinki offsets are whole hours, so one conversion per UTC hour covers every quarter in it.
        per_hour = 60 // self.resolution_minutes if self.resolution_minutes < 60 else 1
        first_hour = self.start.replace(minute=0)
        n_hours = -(-self.n // per_hour) + 1
        hours, weekdays, months, ordinals = [], [], [], []
        for h in range(n_hours):
            local = (first_hour + timedelta(hours=h)).astimezone(HELSINKI)
            hours.append(local.hour)
            weekdays.append(local.weekday())
            months.append(local.month)
            ordinals.append(local.toordinal())
        skip = self.start.minute // self.resolution_minutes if per_hour > 1 else 0

        def expand(values: list[int]) -> npt.NDArray[np.int64]:
            return np.repeat(np.array(values, dtype=np.int64), per_hour)[skip : skip + self.n]

        return expand(hours), expand(weekdays), expand(months), expand(ordinals)

    @property
    def local_hour(self) -> npt.NDArray[np.int64]:
        return self._local_hours[0]

    @property
    def local_weekday(self) -> npt.NDArray[np.int64]:
        """Monday = 0 … Sunday = 6."""
        return self._local_hours[1]

    @property
    def local_month(self) -> npt.NDArray[np.int64]:
        return self._local_hours[2]

    @property
    def local_ordinal(self) -> npt.NDArray[np.int64]:
        """``date.toordinal()`` of the local day of each interval."""
        return self._local_hours[3]
