"""Rows valid from an instant until (excluding) another: the shape of every price, tax and VAT table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from gateway.rating.core.calendar import epoch_seconds
from gateway.rating.core.series import require_utc

T = TypeVar("T")


@dataclass(frozen=True)
class Validity:
    valid_from: datetime
    valid_to: datetime | None = None  # exclusive; None = open-ended

    def __post_init__(self) -> None:
        require_utc(self.valid_from, "valid_from")
        if self.valid_to is not None:
            require_utc(self.valid_to, "valid_to")
            if self.valid_to <= self.valid_from:
                raise ValueError(f"empty validity {self.valid_from} … {self.valid_to}")

    def contains(self, instant: datetime) -> bool:
        return self.valid_from <= instant and (self.valid_to is None or instant < self.valid_to)


@dataclass(frozen=True)
class Dated(Generic[T]):
    validity: Validity
    value: T


class DatedTable(Generic[T]):
    """Non-overlapping dated rows; the row for an instant is the one whose validity contains it."""

    def __init__(self, rows: Iterable[Dated[T]]) -> None:
        self.rows: tuple[Dated[T], ...] = tuple(sorted(rows, key=lambda r: r.validity.valid_from))
        for earlier, later in zip(self.rows, self.rows[1:], strict=False):
            end = earlier.validity.valid_to
            if end is None or end > later.validity.valid_from:
                raise ValueError(
                    f"overlapping validity: row from {earlier.validity.valid_from} and row from "
                    f"{later.validity.valid_from}"
                )
        self._from = np.array([epoch_seconds(r.validity.valid_from) for r in self.rows], dtype=np.int64)
        self._to = np.array(
            [epoch_seconds(r.validity.valid_to) if r.validity.valid_to else np.iinfo(np.int64).max for r in self.rows],
            dtype=np.int64,
        )

    def __len__(self) -> int:
        return len(self.rows)

    def at(self, instant: datetime) -> T | None:
        index = int(self.indices(np.array([epoch_seconds(instant)], dtype=np.int64))[0])
        return None if index < 0 else self.rows[index].value

    def indices(self, epoch: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Row index per instant (POSIX seconds), −1 where no row is valid."""
        if not self.rows:
            return np.full(epoch.shape, -1, dtype=np.int64)
        index = np.searchsorted(self._from, epoch, side="right").astype(np.int64) - 1
        valid = (index >= 0) & (epoch < self._to[np.maximum(index, 0)])
        return np.where(valid, index, -1)

    def values(self) -> Sequence[T]:
        return [r.value for r in self.rows]
