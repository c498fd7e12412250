"""Rows valid from a local day until (excluding) another: legal limits, our policies, reference rates."""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DatedRow(Generic[T]):
    valid_from: date
    valid_to: date | None  # exclusive; None = until the next row starts (or for ever)
    value: T


class DatedRows(Generic[T]):
    """Non-overlapping rows of one kind, optionally keyed (e.g. by customer type)."""

    def __init__(self, rows: Iterable[DatedRow[T]], what: str, key: Callable[[T], object] = lambda _: None) -> None:
        self._what = what
        self._key = key
        self.rows: tuple[DatedRow[T], ...] = tuple(sorted(rows, key=lambda r: (str(key(r.value)), r.valid_from)))
        for earlier, later in zip(self.rows, self.rows[1:], strict=False):
            if key(earlier.value) != key(later.value):
                continue
            if earlier.valid_from == later.valid_from or (
                    earlier.valid_to is not None and earlier.valid_to > later.valid_from):
                raise ValueError(f"{what}: rows from {earlier.valid_from} and {later.valid_from} overlap")

    def on(self, day: date, key: object = None) -> T:
        chosen: DatedRow[T] | None = None
        for row in self.rows:
            if self._key(row.value) != key or row.valid_from > day:
                continue
            if row.valid_to is not None and day >= row.valid_to:
                continue
            if chosen is None or row.valid_from > chosen.valid_from:
                chosen = row
        if chosen is None:
            shown = f" for {key}" if key is not None else ""
            raise LookupError(f"no {self._what}{shown} is valid on {day.isoformat()}")
        return chosen.value

    def spans(self, start: date, end: date, key: object = None) -> Sequence[tuple[date, date, T]]:
        """(from, to-exclusive, value) pieces covering [start, end), each with the row valid on it."""
        pieces: list[tuple[date, date, T]] = []
        boundaries = sorted({start, end, *(r.valid_from for r in self.rows if start < r.valid_from < end),
                             *(r.valid_to for r in self.rows if r.valid_to is not None and start < r.valid_to < end)})
        for lo, hi in itertools.pairwise(boundaries):
            pieces.append((lo, hi, self.on(lo, key)))
        return pieces


def add_months(day: date, months: int) -> date:
    """The same day ``months`` calendar months later, clamped to the month's last day (31.1. + 1 = 28/29.2.)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
