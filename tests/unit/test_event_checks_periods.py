"""Positions per period: UTC instants for PT15M/PT1H (DST days included), Helsinki calendar for P1D/P1M/P1Y."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.periods import expected_positions, local_day_bounds, position_starts


def last_sunday(year: int, month: int) -> date:
    last = date(year, month, calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - 6) % 7)


@pytest.mark.parametrize(
    ("day", "quarters", "hours", "start_utc"),
    [
        (date(2026, 1, 15), 96, 24, "2026-01-14T22:00"),
        (date(2026, 3, 29), 92, 23, "2026-03-28T22:00"),  # last Sunday of March: 23 hours
        (date(2026, 10, 25), 100, 25, "2026-10-24T21:00"),  # last Sunday of October: 25 hours
        (date(2026, 7, 1), 96, 24, "2026-06-30T21:00"),
    ],
)
def test_a_finnish_day(day: date, quarters: int, hours: int, start_utc: str) -> None:
    start, end = local_day_bounds(day)
    assert start.strftime("%Y-%m-%dT%H:%M") == start_utc
    assert expected_positions(start, end, "PT15M") == quarters
    assert expected_positions(start, end, "PT1H") == hours
    assert expected_positions(start, end, "P1D") == 1


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_quarter_hours_of_any_local_day(day: date) -> None:
    start, end = local_day_bounds(day)
    expected = 92 if day == last_sunday(day.year, 3) else 100 if day == last_sunday(day.year, 10) else 96
    assert expected_positions(start, end, "PT15M") == expected


def test_calendar_resolutions_count_local_days_months_and_years() -> None:
    week_start, _ = local_day_bounds(date(2026, 3, 26))
    week_end, _ = local_day_bounds(date(2026, 4, 2))  # spans the spring DST change
    assert expected_positions(week_start, week_end, "P1D") == 7
    year_start, _ = local_day_bounds(date(2026, 1, 1))
    year_end, _ = local_day_bounds(date(2027, 1, 1))
    assert expected_positions(year_start, year_end, "P1M") == 12
    assert expected_positions(year_start, year_end, "P1Y") == 1
    assert position_starts(year_start, 12, "P1M")[3] == datetime(2026, 3, 31, 21, tzinfo=UTC)  # 1.4. EEST


@pytest.mark.parametrize(
    ("start", "end", "resolution"),
    [
        ("2026-01-14T22:07", "2026-01-15T22:07", "PT15M"),  # off the quarter grid
        ("2026-01-14T22:00", "2026-01-15T22:10", "PT15M"),  # not whole quarters
        ("2026-01-14T22:30", "2026-01-15T22:30", "PT1H"),  # off the hour grid
        ("2026-01-14T23:00", "2026-01-15T22:00", "P1D"),  # not local midnight
        ("2026-01-14T22:00", "2026-02-14T22:00", "P1M"),  # local midnights, not first of month
        ("2026-01-31T22:00", "2027-02-28T22:00", "P1Y"),  # months, not whole years from January
        ("2026-01-15T22:00", "2026-01-14T22:00", "PT15M"),  # backwards
        ("2026-01-14T22:00", "2026-01-15T22:00", "PT5M"),  # unknown resolution
    ],
)
def test_periods_off_the_resolution_grid_have_no_position_count(start: str, end: str, resolution: str) -> None:
    s = datetime.fromisoformat(start).replace(tzinfo=UTC)
    e = datetime.fromisoformat(end).replace(tzinfo=UTC)
    assert expected_positions(s, e, resolution) is None


def test_position_starts_follow_utc_instants_across_the_autumn_change() -> None:
    start, end = local_day_bounds(date(2026, 10, 25))
    starts = position_starts(start, 100, "PT15M")
    assert starts[0] == start and starts[-1] + timedelta(minutes=15) == end
    assert len(set(starts)) == 100
