"""Time arithmetic of metering periods: UTC instants for fixed steps, Helsinki calendar for days and months.

A Finnish local day is 92 quarter hours on the last Sunday of March and 100 on the last Sunday of
October; counting on UTC instants gets that right without special cases. P1D/P1M/P1Y steps are
calendar units in Europe/Helsinki, so their positions are counted on local dates.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

HELSINKI: Final = ZoneInfo("Europe/Helsinki")

# Every fixed-length resolution the product meets: Datahub's PT15M and PT1H, ENTSO-E's PT15M and PT60M.
RESOLUTION_MINUTES: Final[dict[str, int]] = {"PT15M": 15, "PT1H": 60, "PT60M": 60}
FIXED_STEPS: Final[dict[str, timedelta]] = {code: timedelta(minutes=m) for code, m in RESOLUTION_MINUTES.items()}
CALENDAR_RESOLUTIONS: Final = frozenset({"P1D", "P1M", "P1Y"})


def local_midnight_utc(day: date) -> datetime:
    """The UTC instant at which the Finnish calendar day `day` begins."""
    return datetime.combine(day, time(0), HELSINKI).astimezone(UTC)


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a Finnish calendar day in UTC."""
    return local_midnight_utc(day), local_midnight_utc(day + timedelta(days=1))


def to_local(value: datetime) -> datetime:
    return value.astimezone(HELSINKI)


def _is_local_midnight(value: datetime) -> bool:
    local = to_local(value)
    return local.time() == time(0)


def _months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def expected_positions(start: datetime, end: datetime, resolution: str) -> int | None:
    """How many observations [start, end) holds at `resolution`; None when the period does not fit
    the resolution's grid (not a whole number of steps, or not on local day/month/year boundaries)."""
    if end <= start:
        return None
    step = FIXED_STEPS.get(resolution)
    if step is not None:
        span = end - start
        if span % step or (start - datetime(2000, 1, 1, tzinfo=UTC)) % step:
            return None
        return span // step
    if resolution not in CALENDAR_RESOLUTIONS or not (_is_local_midnight(start) and _is_local_midnight(end)):
        return None
    first, last = to_local(start).date(), to_local(end).date()
    if resolution == "P1D":
        return (last - first).days
    if first.day != 1 or last.day != 1:
        return None
    months = _months_between(first, last)
    if resolution == "P1M":
        return months
    if first.month != 1 or last.month != 1:
        return None
    return months // 12


def position_starts(start: datetime, count: int, resolution: str) -> list[datetime]:
    """UTC start instant of each of `count` positions from `start` (1-based SEQ i ↦ element i-1)."""
    step = FIXED_STEPS.get(resolution)
    if step is not None:
        return [start + i * step for i in range(count)]
    local = to_local(start).date()
    out = []
    for i in range(count):
        if resolution == "P1D":
            day = local + timedelta(days=i)
        elif resolution == "P1M":
            month_index = local.month - 1 + i
            day = date(local.year + month_index // 12, month_index % 12 + 1, 1)
        else:
            day = date(local.year + i, 1, 1)
        out.append(local_midnight_utc(day))
    return out
