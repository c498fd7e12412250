"""Packing metering values for the store, and reading "the latest version as of T"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.domain.metering import MeteringTransaction
from gateway.rating.core.quality import Quality
from gateway.store.queries import in_values
from gateway.store.tables import MeteringSeriesRow

VALUES_DTYPE = np.dtype("<i8")
QUALITY_DTYPE = np.dtype("u1")


def pack(txn: MeteringTransaction) -> tuple[bytes, bytes]:
    n = len(txn)
    values = _micro_units(txn, n)
    if not any(txn.missing) and txn.qualities.count(None) == n:
        # The common case, every value measured: skip the per-value code lookup.
        return values.tobytes(), bytes(n)
    quality = np.fromiter(
        (Quality.from_datahub(q, m) for q, m in zip(txn.qualities, txn.missing, strict=True)),
        dtype=QUALITY_DTYPE,
        count=n,
    )
    return values.tobytes(), quality.tobytes()


def _micro_units(txn: MeteringTransaction, n: int) -> np.ndarray:
    if txn.micro is not None and len(txn.micro) == n:
        return txn.micro
    return np.fromiter(txn.micro_units(), dtype=VALUES_DTYPE, count=n)


def unpack(row: MeteringSeriesRow) -> tuple[np.ndarray, np.ndarray]:
    return np.frombuffer(row.values, dtype=VALUES_DTYPE), np.frombuffer(row.quality, dtype=QUALITY_DTYPE)


@dataclass(frozen=True)
class SeriesKey:
    accounting_point: str
    product: str
    resolution: str
    period_start: datetime
    period_end: datetime


def next_versions(session: Session, keys: list[SeriesKey]) -> list[int]:
    """The version number each new series gets, in the order of `keys`: one more than the highest stored for the
    same period, or than the previous occurrence of the same key in `keys`."""
    if not keys:
        return []
    points = sorted({k.accounting_point for k in keys})
    # Only the stored periods that can match: a point with a year of daily series has hundreds, and a run of
    # singles asks for a day or two of them (the (point, period_start) index serves both conditions).
    first = min(k.period_start for k in keys)
    last = max(k.period_start for k in keys)
    rows = session.execute(
        select(
            col(MeteringSeriesRow.accounting_point), col(MeteringSeriesRow.product),
            col(MeteringSeriesRow.resolution), col(MeteringSeriesRow.period_start),
            col(MeteringSeriesRow.period_end), func.max(col(MeteringSeriesRow.version)),
        )
        .where(in_values(session, col(MeteringSeriesRow.accounting_point), points),
               col(MeteringSeriesRow.period_start).between(first, last))
        .group_by(
            col(MeteringSeriesRow.accounting_point), col(MeteringSeriesRow.product), col(MeteringSeriesRow.resolution),
            col(MeteringSeriesRow.period_start), col(MeteringSeriesRow.period_end),
        )
    ).all()
    latest = {SeriesKey(*row[:5]): int(row[5]) for row in rows}
    result: list[int] = []
    for key in keys:
        latest[key] = latest.get(key, 0) + 1
        result.append(latest[key])
    return result


def latest_contents(session: Session, keys: list[SeriesKey]) -> dict[SeriesKey, tuple[bytes, bytes]]:
    """The packed values and qualities of each key's latest stored version (keys never stored are absent)."""
    if not keys:
        return {}
    wanted = set(keys)
    rows = session.execute(
        select(
            col(MeteringSeriesRow.accounting_point), col(MeteringSeriesRow.product),
            col(MeteringSeriesRow.resolution), col(MeteringSeriesRow.period_start),
            col(MeteringSeriesRow.period_end), col(MeteringSeriesRow.version), col(MeteringSeriesRow.values),
            col(MeteringSeriesRow.quality),
        )
        .where(in_values(session, col(MeteringSeriesRow.accounting_point), sorted({k.accounting_point for k in keys})),
               col(MeteringSeriesRow.period_start).between(min(k.period_start for k in keys),
                                                            max(k.period_start for k in keys)))
    ).all()
    best: dict[SeriesKey, tuple[int, bytes, bytes]] = {}
    for row in rows:
        key = SeriesKey(*row[:5])
        if key in wanted and (key not in best or row[5] > best[key][0]):
            best[key] = (int(row[5]), bytes(row[6]), bytes(row[7]))
    return {key: (values, quality) for key, (_, values, quality) in best.items()}


def latest_series(
    session: Session, accounting_point: str, start: datetime, end: datetime, *, as_of: datetime | None = None
) -> list[MeteringSeriesRow]:
    """For each stored period overlapping [start, end): its highest version received by `as_of` (default now)."""
    q = select(MeteringSeriesRow).where(
        col(MeteringSeriesRow.accounting_point) == accounting_point,
        col(MeteringSeriesRow.period_start) < end,
        col(MeteringSeriesRow.period_end) > start,
    )
    if as_of is not None:
        q = q.where(col(MeteringSeriesRow.received_at) <= as_of)
    best: dict[tuple[str, str, datetime, datetime], MeteringSeriesRow] = {}
    for row in session.execute(q).scalars():
        key = (row.product, row.resolution, row.period_start, row.period_end)
        if key not in best or row.version > best[key].version:
            best[key] = row
    return sorted(best.values(), key=lambda r: (r.period_start, r.product))
