"""Event rules for E66 metering transactions."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Final

from gateway.domain.codes import UNITS_BY_PRODUCT
from gateway.domain.identifiers import is_valid_gsrn
from gateway.domain.metering import MeteringTransaction
from gateway.domain.periods import expected_positions
from gateway.validation.errors import EC, EventError
from gateway.validation.lookup import AccountingPointLookup, accounting_point_errors

MAX_VALUES_PER_SERIES: Final = 10_000  # Datahub's response limit per series

_Fail = Callable[[str, str], None]


def check_metering_transaction(
    txn: MeteringTransaction, known_accounting_point: AccountingPointLookup | None = None
) -> list[EventError]:
    """Every failed rule of one E66 transaction (empty when it may be stored)."""
    tid = txn.transaction_id
    errors: list[EventError] = []

    def fail(code: str, text: str) -> None:
        errors.append(EventError(code, text, tid))

    gsrn_ok = is_valid_gsrn(txn.accounting_point)
    if not gsrn_ok:
        fail(EC.INVALID_GSRN, f"accounting point {txn.accounting_point!r} is not a valid GSRN")

    allowed_units = UNITS_BY_PRODUCT.get(txn.product)
    if allowed_units is not None and txn.unit not in allowed_units:
        fail(EC.UNIT_NOT_VALID_FOR_PRODUCT, f"unit {txn.unit} is not valid for product {txn.product}")

    n = len(txn.sequences)
    if n > MAX_VALUES_PER_SERIES:
        fail(EC.TOO_MANY_VALUES, f"{n} values exceed the limit of {MAX_VALUES_PER_SERIES} per series")

    _check_period(txn, n, fail)
    _check_sequence(txn.sequences, fail)
    _check_observations(txn, fail)

    if gsrn_ok:
        errors.extend(accounting_point_errors(txn.accounting_point, known_accounting_point, tid))
    return errors


def _check_period(txn: MeteringTransaction, n: int, fail: _Fail) -> None:
    if txn.start >= txn.end:
        fail(EC.PERIOD_NOT_POSITIVE, f"period start {txn.start:%Y-%m-%dT%H:%MZ} is not before its end")
        return
    if txn.resolution is None:
        fail(EC.RESOLUTION_MISSING, "time series has no resolution")
        return
    expected = expected_positions(txn.start, txn.end, txn.resolution)
    if expected is None:
        fail(
            EC.PERIOD_NOT_ON_RESOLUTION_GRID,
            f"period {txn.start:%Y-%m-%dT%H:%MZ}–{txn.end:%Y-%m-%dT%H:%MZ} is not a whole number of "
            f"{txn.resolution} steps on the resolution's boundaries",
        )
    elif expected != n:
        fail(
            EC.OBSERVATION_COUNT_MISMATCH,
            f"{n} observations but the period holds {expected} positions of {txn.resolution}",
        )


@lru_cache(maxsize=64)
def _one_to(n: int) -> tuple[int, ...]:
    return tuple(range(1, n + 1))


def _check_sequence(sequences: tuple[int, ...], fail: _Fail) -> None:
    if sequences == _one_to(len(sequences)):  # one C-level comparison for the usual, gapless series
        return
    for expected, seq in enumerate(sequences, start=1):
        if seq != expected:
            fail(
                EC.SEQUENCE_NOT_CONTIGUOUS,
                f"position {expected} has SEQ {seq}; SEQ must run 1..n without gaps",
            )
            return


def _check_observations(txn: MeteringTransaction, fail: _Fail) -> None:
    # The mapping's micro-units exist only when every position carries a quantity and no QQ/QM flag.
    micro = txn.micro
    if (micro is not None and len(micro) == len(txn.quantities) and not any(txn.missing)
            and (not len(micro) or int(micro.min()) >= 0)):
        return
    measured = [q for q in txn.quantities if q is not None]
    # The common case (every position measured, none negative) needs no per-position listing.
    if not any(txn.missing) and len(measured) == len(txn.quantities) and (not measured or min(measured) >= 0):
        return
    negatives = [s for s, q in zip(txn.sequences, txn.quantities, strict=True) if q is not None and q < 0]
    if negatives:
        fail(EC.NEGATIVE_QUANTITY, f"negative quantity at SEQ {_listing(negatives)}")
    conflicting = [
        s
        for s, q, qq, m in zip(txn.sequences, txn.quantities, txn.qualities, txn.missing, strict=True)
        if m and (q is not None or qq is not None)
    ]
    if conflicting:
        fail(EC.MISSING_CONFLICT, f"QM=1 together with QTY or QQ at SEQ {_listing(conflicting)}")
    absent = [s for s, q, m in zip(txn.sequences, txn.quantities, txn.missing, strict=True) if q is None and not m]
    if absent:
        fail(EC.QUANTITY_ABSENT, f"no quantity and not marked missing (QM=1) at SEQ {_listing(absent)}")


def _listing(seqs: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(s) for s in seqs[:limit])
    return shown + (f" … ({len(seqs)} in all)" if len(seqs) > limit else "")
