"""Spot prices in the store: import (ENTSO-E XML or CSV, detected by content), versioning, loading.

An interval whose price equals its latest stored version is left alone, so re-importing a file is a
no-op; a different price becomes the next version of that interval and the earlier one stays. Every
stored interval is announced on the outbox (``prices.imported``) in the same transaction, so periods that
were already rated get re-rated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.rating.core.series import PriceSeries
from gateway.rating.errors import RatingInputError
from gateway.store.rating_tables import SpotPrice, SpotPriceImport
from mappings.entsoe_prices import PriceDocumentError, parse_day_ahead_prices, validate
from mappings.price_csv import PriceCsvError, parse_price_csv
from outbox import enqueue
from outbox.types import utcnow

TOPIC_PRICES = "prices.imported"
FINLAND = "10YFI-1--------U"


@dataclass(frozen=True)
class Span:
    zone: str
    start: datetime
    end: datetime

    def to_json(self) -> dict[str, str]:
        return {"zone": self.zone, "start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclass(frozen=True)
class PriceImportResult:
    import_id: int | None  # None: nothing new, nothing stored
    intervals: int
    new_intervals: int
    changed_intervals: int
    spans: tuple[Span, ...] = field(default=())

    @property
    def unchanged_intervals(self) -> int:
        return self.intervals - self.new_intervals - self.changed_intervals


def parse_price_file(data: bytes, *, zone: str | None = None) -> tuple[str, list[PriceSeries]]:
    """(format, series) of a price file: XML is an ENTSO-E day-ahead document, anything else the CSV.

    ``zone`` names the bidding zone of a CSV (default Finland) and filters a multi-zone XML document.
    """
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    try:
        if head.startswith(b"<"):
            errors = validate(data)
            if errors:
                raise RatingInputError(f"ENTSO-E document does not match its schema: {errors[0]}")
            series = parse_day_ahead_prices(data)
            if zone is not None:
                series = [s for s in series if s.zone == zone]
                if not series:
                    raise RatingInputError(f"the document has no prices for zone {zone}")
            return "entsoe", series
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise RatingInputError("a price CSV must be UTF-8 text") from None
        return "csv", parse_price_csv(text, zone or FINLAND)
    except (PriceDocumentError, PriceCsvError) as error:
        raise RatingInputError(str(error)) from None


def _milli(price: Decimal) -> int:
    scaled = price * 1000
    if scaled != scaled.to_integral_value():
        raise RatingInputError(f"price {price} €/MWh has more than three decimals")
    return int(scaled)


def _intervals(series: Iterable[PriceSeries]) -> dict[tuple[str, int], dict[datetime, int]]:
    by_key: dict[tuple[str, int], dict[datetime, int]] = {}
    for s in series:
        slots = by_key.setdefault((s.zone, s.resolution_minutes), {})
        for instant, price in zip(s.instants(), s.prices_eur_per_mwh, strict=True):
            milli = _milli(price)
            if slots.setdefault(instant, milli) != milli:
                raise RatingInputError(f"{s.zone}: two different prices for {instant.isoformat()} in one file")
    return by_key


def _latest(
    session: Session, zone: str, minutes: int, first: datetime, last: datetime
) -> dict[datetime, tuple[int, int]]:
    rows = session.execute(
        select(col(SpotPrice.interval_start), col(SpotPrice.version), col(SpotPrice.price_milli_eur_per_mwh))
        .where(
            col(SpotPrice.zone) == zone,
            col(SpotPrice.resolution_minutes) == minutes,
            col(SpotPrice.interval_start) >= first,
            col(SpotPrice.interval_start) <= last,
        )
        .order_by(col(SpotPrice.interval_start), col(SpotPrice.version))
    ).all()
    return {start: (version, price) for start, version, price in rows}  # ordered: the highest version wins


def _spans(zone: str, minutes: int, instants: Sequence[datetime]) -> list[Span]:
    spans: list[Span] = []
    step = timedelta(minutes=minutes)
    for instant in sorted(instants):
        if spans and spans[-1].end == instant:
            spans[-1] = Span(zone, spans[-1].start, instant + step)
        else:
            spans.append(Span(zone, instant, instant + step))
    return spans


def import_prices(
    session: Session,
    series: Sequence[PriceSeries],
    *,
    source: str,
    sha256: str,
    fmt: str,
    now: datetime | None = None,
) -> PriceImportResult:
    """Store what is new or changed in ``series`` inside the caller's transaction."""
    now = now or utcnow()
    rows: list[dict[str, Any]] = []
    spans: list[Span] = []
    total = new = changed = 0
    for (zone, minutes), slots in _intervals(series).items():
        total += len(slots)
        stored = _latest(session, zone, minutes, min(slots), max(slots))
        touched = []
        for instant, milli in slots.items():
            version, price = stored.get(instant, (0, None))
            if price == milli:
                continue
            new, changed = (new + 1, changed) if version == 0 else (new, changed + 1)
            touched.append(instant)
            rows.append({"zone": zone, "resolution_minutes": minutes, "interval_start": instant,
                         "version": version + 1, "price_milli_eur_per_mwh": milli, "imported_at": now})
        spans.extend(_spans(zone, minutes, touched))
    if not rows:
        return PriceImportResult(None, total, 0, 0)
    first = series[0]
    record = SpotPriceImport(source=source[-300:], sha256=sha256, format=fmt, document_id=first.document_id,
                             document_revision=first.revision, intervals=total, new_intervals=new,
                             changed_intervals=changed, imported_at=now)
    session.add(record)
    session.flush()
    assert record.id is not None
    for row in rows:
        row["import_id"] = record.id
    session.execute(insert(SpotPrice), rows)
    enqueue(session, TOPIC_PRICES, {"import_id": record.id, "spans": [s.to_json() for s in spans]},
            key=f"prices:{record.id}")
    return PriceImportResult(record.id, total, new, changed, tuple(spans))


def import_price_file(engine: Engine, path: str | Path, zone: str | None = None) -> PriceImportResult:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise RatingInputError(f"cannot read {path}: {error.strerror}") from None
    fmt, series = parse_price_file(data, zone=zone)
    with Session(engine) as session, session.begin():
        return import_prices(session, series, source=str(path), sha256=hashlib.sha256(data).hexdigest(), fmt=fmt)


def load_prices(
    session: Session, zones: Iterable[str], start: datetime, end: datetime, *, as_of: datetime | None = None
) -> list[PriceSeries]:
    """The latest price version (imported by ``as_of``) of every interval in [start, end), as series.

    Hourly series come first so that quarter-hour prices, where both exist, override them in the core.
    """
    wanted = sorted(set(zones))
    if not wanted:
        return []
    q = (
        select(col(SpotPrice.zone), col(SpotPrice.resolution_minutes), col(SpotPrice.interval_start),
               col(SpotPrice.price_milli_eur_per_mwh))
        .where(col(SpotPrice.zone).in_(wanted), col(SpotPrice.interval_start) >= start,
               col(SpotPrice.interval_start) < end)
        .order_by(col(SpotPrice.zone), col(SpotPrice.resolution_minutes).desc(), col(SpotPrice.interval_start),
                  col(SpotPrice.version))
    )
    if as_of is not None:
        q = q.where(col(SpotPrice.imported_at) <= as_of)
    latest: dict[tuple[str, int], dict[datetime, int]] = {}
    for zone, minutes, instant, milli in session.execute(q):
        latest.setdefault((zone, minutes), {})[instant] = milli
    result: list[PriceSeries] = []
    for (zone, minutes), slots in latest.items():
        step = timedelta(minutes=minutes)
        run_start: datetime | None = None
        run: list[Decimal] = []
        previous: datetime | None = None
        for instant, milli in slots.items():
            if previous is None or instant != previous + step:
                if run_start is not None:
                    result.append(PriceSeries(zone, run_start, minutes, tuple(run)))
                run_start, run = instant, []
            run.append(Decimal(milli).scaleb(-3))
            previous = instant
        if run_start is not None:
            result.append(PriceSeries(zone, run_start, minutes, tuple(run)))
    return result
