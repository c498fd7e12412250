"""The vectorised rating core: many accounting points × one period's intervals in one 2-D array.

Exactness argument (why float64 gives the same cents as a Decimal computation): energies are integer
micro-units and prices integer numerators, so every product ``energy × price`` is an integer. All the
charges are evaluated by one matrix product ``E @ M`` in float64. For a (point, segment) cell every
partial sum, in whatever order BLAS adds, is an integer whose magnitude is at most
``Σ|energy| × max|price|``; while that bound is below 2^53 each addition is exact, so the float result *is*
the exact integer. Cells above the bound are recomputed with Python integers. Rounding to cents is then
integer arithmetic (half away from zero), vectorised, so amounts equal the Decimal reference exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

import numpy as np
import numpy.typing as npt

from gateway.rating.core.charges import EnergyCharge, SegmentInfo
from gateway.rating.core.lines import PricedLine
from gateway.rating.core.money import KWH_PER_UNIT, MICRO, QUANTA_PER_EUR_PER_KWH, UNIT_PRICE_PLACES, plain
from gateway.rating.core.quality import ESTIMATED_CODES, MISSING_CODES

EXACT_LIMIT = float(2**53)
_CHUNK_POINTS = 128
_EXACT = 60  # decimal digits, enough for any product of the integers involved


@dataclass(frozen=True)
class _Column:
    charge: int
    segment: SegmentInfo
    mask_column: int
    denominator: int
    share: Decimal
    line_unit: str


@dataclass(frozen=True, eq=False)
class EnergyBatch:
    """Exact results per (point, line column); Decimal lines are built on demand by ``lines``."""

    columns: tuple[_Column, ...]
    amount_units: npt.NDArray[np.int64]  # exact Σ energy × price_num (see ``overflow``)
    overflow: dict[tuple[int, int], int]  # cells beyond int64/float exactness, as Python ints
    cents: npt.NDArray[np.int64]  # line amounts in cents, rounded half away from zero
    quantity_micro: npt.NDArray[np.int64]  # per (point, mask column), series micro-units
    estimated: npt.NDArray[np.int64] | None  # per (point, mask column), None when nothing is estimated
    missing: npt.NDArray[np.int64] | None
    unit: str

    @property
    def n_points(self) -> int:
        return int(self.cents.shape[0])

    def exact_amount(self, point: int, column: int) -> Decimal:
        """The unrounded € amount of one line."""
        col = self.columns[column]
        units = self.overflow.get((point, column), int(self.amount_units[point, column]))
        with localcontext() as ctx:
            ctx.prec = _EXACT
            return Decimal(units) * KWH_PER_UNIT[self.unit] / (MICRO * QUANTA_PER_EUR_PER_KWH * col.denominator)

    def lines(self, point: int, accounting_point: str, include_empty: bool = False) -> list[PricedLine]:
        result = []
        line_factor = {"kWh": Decimal(1), "MWh": Decimal(1000)}
        for c, col in enumerate(self.columns):
            micro = int(self.quantity_micro[point, col.mask_column])
            estimated = 0 if self.estimated is None else int(self.estimated[point, col.mask_column])
            missing = 0 if self.missing is None else int(self.missing[point, col.mask_column])
            if micro == 0 and not (include_empty or estimated or missing):
                continue
            with localcontext() as ctx:
                ctx.prec = _EXACT
                quantity = Decimal(micro) * col.share * KWH_PER_UNIT[self.unit] / MICRO / line_factor[col.line_unit]
                exact = self.exact_amount(point, c)
                if col.segment.unit_price is not None:
                    unit_price = col.segment.unit_price * line_factor[col.line_unit]
                elif quantity:
                    unit_price = (exact / quantity).quantize(UNIT_PRICE_PLACES)
                else:
                    unit_price = Decimal(0)
            seg = col.segment
            result.append(
                PricedLine(
                    accounting_point=accounting_point,
                    legal_entity=seg.legal_entity,
                    product_code=seg.product_code,
                    component=seg.component,
                    period_start=seg.start,
                    period_end=seg.end,
                    quantity=plain(quantity),
                    unit=col.line_unit,
                    unit_price=plain(unit_price) if seg.unit_price is not None else unit_price,
                    amount=Decimal(int(self.cents[point, c])).scaleb(-2),
                    vat_kind=str(seg.vat_kind),
                    vat_rate=seg.vat_rate,
                    tax_class=seg.tax_class,
                    estimated_intervals=estimated,
                    missing_intervals=missing,
                )
            )
        return result


def _round_half_away(numerator: npt.NDArray[np.int64], denominator: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    magnitude = (2 * np.abs(numerator) + denominator) // (2 * denominator)
    return np.where(numerator < 0, -magnitude, magnitude)


def rate_energy(
    energy: npt.NDArray[np.int64],
    quality: npt.NDArray[np.uint8] | None,
    charges: Sequence[EnergyCharge],
    unit: str = "kWh",
) -> EnergyBatch:
    """Rate ``energy`` (points × intervals, micro-units of ``unit``) against charges laid out on its grid."""
    if energy.ndim != 2:
        raise ValueError("energy must be a 2-D array (points × intervals)")
    n_points, n = energy.shape
    columns: list[_Column] = []
    price_cols: list[npt.NDArray[np.float64]] = []
    mask_cols: list[npt.NDArray[np.bool_]] = []
    mask_index: dict[bytes, int] = {}
    max_price: list[float] = []
    for ci, charge in enumerate(charges):
        if charge.segment_of.shape != (n,):
            raise ValueError("charge laid out on a different grid")
        for si, segment in enumerate(charge.segments):
            mask = charge.segment_of == si
            key = np.packbits(mask).tobytes()
            if key not in mask_index:
                mask_index[key] = len(mask_cols)
                mask_cols.append(mask)
            prices = np.where(mask, charge.price_num, 0)
            price_cols.append(prices.astype(np.float64))
            max_price.append(float(np.abs(prices).max(initial=0)))
            columns.append(_Column(ci, segment, mask_index[key], charge.denominator, charge.share, charge.line_unit))
    k, q = len(price_cols), len(mask_cols)
    matrix = np.empty((n, k + q), dtype=np.float64)
    for j, col in enumerate(price_cols):
        matrix[:, j] = col
    for j, mask in enumerate(mask_cols):
        matrix[:, k + j] = mask
    if any(abs(v) >= EXACT_LIMIT for v in max_price):
        raise ValueError("a price numerator exceeds float64's exact integer range")

    # Quality codes are ordered so that one cheap reduction tells whether any interval is estimated or
    # missing; the full masks are only built when one is.
    flagged = quality is not None and quality.size > 0 and int(quality.max()) >= min(ESTIMATED_CODES + MISSING_CODES)
    missing_mask = None
    if quality is not None and quality.shape != energy.shape:
        raise ValueError("quality must have the shape of energy")
    if flagged:
        assert quality is not None
        missing_mask = np.isin(quality, MISSING_CODES)
        if missing_mask.any():
            energy = np.where(missing_mask, 0, energy)
        else:
            missing_mask = None

    out = np.empty((n_points, k + q), dtype=np.float64)
    abs_out: npt.NDArray[np.float64] | None = None
    buffer = np.empty((min(_CHUNK_POINTS, n_points), n), dtype=np.float64)
    for lo in range(0, n_points, _CHUNK_POINTS):
        hi = min(lo + _CHUNK_POINTS, n_points)
        block = buffer[: hi - lo]
        np.copyto(block, energy[lo:hi], casting="unsafe")
        np.matmul(block, matrix, out=out[lo:hi])
        if abs_out is None and block.min(initial=0.0) < 0:
            abs_out = np.zeros((n_points, q), dtype=np.float64)
            for earlier in range(0, lo, _CHUNK_POINTS):  # rows before the first negative value are ≥ 0
                abs_out[earlier : earlier + _CHUNK_POINTS] = out[earlier : earlier + _CHUNK_POINTS, k:]
        if abs_out is not None:
            abs_out[lo:hi] = np.abs(block) @ matrix[:, k:]

    quantity_f = out[:, k:]
    abs_quantity = quantity_f if abs_out is None else abs_out
    if np.any(np.abs(quantity_f) >= EXACT_LIMIT):
        raise ValueError("energy sums exceed float64's exact integer range")
    mask_of_col = np.array([c.mask_column for c in columns], dtype=np.int64)
    bound = abs_quantity[:, mask_of_col] * np.array(max_price, dtype=np.float64)
    amount_f = out[:, :k]
    safe = bound < EXACT_LIMIT / 2  # margin for the rounding of the bound itself
    amount_units = np.where(safe, amount_f, 0).astype(np.int64)
    overflow: dict[tuple[int, int], int] = {}
    for p, c in zip(*np.nonzero(~safe), strict=True):
        row = energy[int(p)].tolist()
        prices = price_cols[int(c)].astype(np.int64).tolist()
        overflow[(int(p), int(c))] = sum(e * pr for e, pr in zip(row, prices, strict=True) if pr)

    # cents = units × kWh-per-unit × 100 / (10^6 micro × 10^6 quanta × denominator)
    unit_num, unit_den = KWH_PER_UNIT[unit].as_integer_ratio()
    denominators = np.array([c.denominator for c in columns], dtype=np.int64) * unit_den * 10**10
    fits = np.abs(amount_units) < (2**60) // max(unit_num, 1)  # room for 2·|n| + d in int64
    cents = _round_half_away(
        np.where(fits, amount_units, 0) * unit_num, np.broadcast_to(denominators, amount_units.shape)
    )
    for p, c in zip(*np.nonzero(~fits), strict=True):
        overflow.setdefault((int(p), int(c)), int(amount_units[p, c]))
    for (p, c), units in overflow.items():
        cents[p, c] = _round_half_away_int(units * unit_num, int(denominators[c]))

    estimated = missing = None
    if flagged:
        assert quality is not None
        est_mask = np.isin(quality, ESTIMATED_CODES)
        if est_mask.any():
            estimated = np.rint(est_mask.astype(np.float64) @ matrix[:, k:]).astype(np.int64)
        if missing_mask is not None:
            missing = np.rint(missing_mask.astype(np.float64) @ matrix[:, k:]).astype(np.int64)

    return EnergyBatch(
        columns=tuple(columns),
        amount_units=amount_units,
        overflow=overflow,
        cents=cents,
        quantity_micro=np.rint(quantity_f).astype(np.int64),
        estimated=estimated,
        missing=missing,
        unit=unit,
    )


def _round_half_away_int(numerator: int, denominator: int) -> int:
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return q if numerator >= 0 else -q
