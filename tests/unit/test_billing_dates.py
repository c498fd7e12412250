"""Due dates on Finnish banking days (docs/market.md §4.1: a consumer's invoice is sent ≥ 14 days before it is due)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.billing.core.dates import due_date, is_banking_day, next_banking_day


@pytest.mark.parametrize("day", [
    date(2026, 1, 1), date(2026, 1, 6), date(2026, 4, 3), date(2026, 4, 6), date(2026, 5, 1), date(2026, 5, 14),
    date(2026, 6, 19), date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26), date(2025, 12, 6),
    date(2026, 3, 7), date(2026, 3, 8),  # a Saturday and a Sunday
])
def test_holidays_and_weekends_are_not_banking_days(day: date) -> None:
    assert not is_banking_day(day)


def test_a_due_date_on_good_friday_moves_past_easter_monday() -> None:
    assert next_banking_day(date(2026, 4, 3)) == date(2026, 4, 7)
    assert due_date(date(2026, 3, 20), 14, consumer=True) == date(2026, 4, 7)


def test_consumers_get_at_least_14_days_businesses_get_the_term() -> None:
    assert due_date(date(2026, 4, 1), 7, consumer=True) == date(2026, 4, 15)
    assert due_date(date(2026, 4, 1), 7, consumer=False) == date(2026, 4, 8)
    assert due_date(date(2026, 4, 1), 21, consumer=True) == date(2026, 4, 22)


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)), st.integers(0, 60), st.booleans())
def test_a_due_date_is_a_banking_day_at_least_the_term_after_sending(sent: date, term: int, consumer: bool) -> None:
    due = due_date(sent, term, consumer=consumer)
    assert is_banking_day(due)
    assert due - sent >= timedelta(days=max(term, 14) if consumer else term)
    assert due - sent <= timedelta(days=max(term, 14) + 5)  # never more than a long Easter weekend away
