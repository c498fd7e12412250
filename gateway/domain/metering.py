"""E66 metering time series (DH-211)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import numpy as np

from gateway.domain.message import DatahubMessage

MICRO_UNITS_PER_UNIT = 1_000_000  # QTY has at most 6 fraction digits, so × 10^6 is exact
MICRO_DTYPE = np.dtype("<i8")

# QTY is F8_6 in the schema: |value| < 10^8 with at most six decimals, so value × 10^6 < 10^14 < 2^53 and a
# float parse of the text, scaled and rounded to the nearest integer, is exact (the float error stays around
# 10^-2 units, far below the 0.5 that would round the wrong way). Beyond the limit the exact route is taken.
_FLOAT_EXACT_LIMIT = 1e14


def micro_units_of_texts(texts: Sequence[str]) -> np.ndarray | None:
    """Schema-valid QTY texts (F8_6) as exact int64 micro-units, or None when a text is outside the range
    where the float route is exact (the caller then converts through Decimal)."""
    try:
        scaled = np.array(texts, dtype=np.float64) * MICRO_UNITS_PER_UNIT
    except ValueError:
        return None
    if len(scaled) and not float(np.abs(scaled).max()) < _FLOAT_EXACT_LIMIT:  # also refuses NaN
        return None
    return np.rint(scaled).astype(MICRO_DTYPE)


@dataclass(frozen=True, slots=True)
class MeteringTransaction:
    """One E66 `Transaction`: a time series of one accounting point over one period.

    The observations are four parallel tuples indexed by position (document order):
    `sequences` (SEQ), `quantities` (QTY, `None` when absent), `qualities` (QQ, `None` = measured OK)
    and `missing` (QM=1). An observation with neither QTY nor QM=1 is QM=0; the event checks reject it.
    """

    transaction_id: str
    accounting_point: str
    metering_point_type: str
    product: str
    unit: str
    resolution: str | None
    start: datetime
    end: datetime
    sequences: tuple[int, ...]
    quantities: tuple[Decimal | None, ...]
    qualities: tuple[str | None, ...]
    missing: tuple[bool, ...]
    series_identification: str | None = None
    invoice_relevant: bool | None = None
    grid_area: str | None = None
    in_area: str | None = None
    out_area: str | None = None
    # `quantities` in micro-units, filled by the E66 mapping from the QTY texts when every position carries a
    # quantity: the store packs it as is, instead of converting 96 Decimals per series. Derived data, so it
    # takes no part in equality, hashing or repr.
    micro: np.ndarray | None = field(default=None, compare=False, hash=False, repr=False)

    def __len__(self) -> int:
        return len(self.sequences)

    def micro_units(self) -> tuple[int, ...]:
        """Quantities as exact integers of 10^-6 unit (kWh → µkWh), 0 where a value is absent.

        Use `missing` (or `present_mask`) alongside: 0 here does not tell a zero reading from a gap.
        Raises ValueError for a quantity with more than 6 fraction digits (the schema forbids them).
        """
        out = []
        for q in self.quantities:
            if q is None:
                out.append(0)
                continue
            scaled = q.scaleb(6)
            micro = int(scaled)
            if micro != scaled:
                raise ValueError(f"quantity {q} has more than 6 fraction digits")
            out.append(micro)
        return tuple(out)

    def present_mask(self) -> tuple[bool, ...]:
        """True where the observation carries a quantity."""
        return tuple(q is not None for q in self.quantities)


E66Message = DatahubMessage[MeteringTransaction]
