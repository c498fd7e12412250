"""Invoice dates: Finnish banking days and due dates.

A banking day is a weekday that is not a Finnish public holiday in the ``holidays`` package's calendar
(which includes the days banks keep closed: New Year's Day, Epiphany, Good Friday, Easter Monday, May Day,
Ascension Day, Midsummer Eve, Independence Day, Christmas Eve, Christmas Day and Boxing Day).

Due date (docs/market.md §4.1, Energy Authority): a consumer's invoice is sent at least 14 days before it is due;
the entity's payment term applies when longer. A due date that is not a banking day moves to the next one.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays

CONSUMER_MIN_DAYS = 14


@lru_cache(maxsize=64)
def _finnish_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("FI", years=year).keys())


def is_banking_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _finnish_holidays(day.year)


def next_banking_day(day: date) -> date:
    """``day`` itself when it is a banking day, else the first banking day after it."""
    while not is_banking_day(day):
        day += timedelta(days=1)
    return day


def due_date(sending_date: date, payment_term_days: int, *, consumer: bool,
             consumer_min_days: int = CONSUMER_MIN_DAYS) -> date:
    """The due date of an invoice sent on ``sending_date``: the payment term (at least ``consumer_min_days``
    for a consumer) after sending, moved to the next banking day."""
    if payment_term_days < 0:
        raise ValueError("the payment term must not be negative")
    days = max(payment_term_days, consumer_min_days) if consumer else payment_term_days
    return next_banking_day(sending_date + timedelta(days=days))
