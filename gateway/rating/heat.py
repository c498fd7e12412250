"""District heating readings from a CSV file into the metering store (heat meters are not in Datahub).

Format: a header ``start_utc,end_utc,kwh`` (or ``…,mwh``), optionally followed by ``quality``; one row per
interval of 15 or 60 minutes, instants ISO 8601 with ``Z`` or an offset, quantities ≥ 0 with at most six
decimals. ``quality`` is empty or ``measured``, ``revised``, ``uncertain``, ``estimated`` or ``missing``
(a missing row may leave the quantity empty). Rows must be in time order; a gap or a change of
resolution starts a new series. Each series is stored by the same writer as an E66 series: a new version of its
period, announced on ``metering.received`` so that already rated periods are re-rated; a series equal to its
period's latest version is skipped, so importing the same file again changes nothing.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.apply import MeteringDelivery, SeriesToStore, store_series
from gateway.domain.identifiers import is_valid_gsrn
from gateway.events import SeriesRef
from gateway.rating.core.quality import Quality
from gateway.rating.errors import RatingInputError
from gateway.rating.service import ENERGY_PRODUCT
from gateway.store.metering import QUALITY_DTYPE, VALUES_DTYPE, SeriesKey
from outbox.types import utcnow

UNITS = {"kwh": "kWh", "mwh": "MWh"}
RESOLUTIONS = {15: "PT15M", 60: "PT1H"}
QUALITIES = {"": Quality.MEASURED, "measured": Quality.MEASURED, "revised": Quality.REVISED,
             "uncertain": Quality.UNCERTAIN, "estimated": Quality.ESTIMATED, "missing": Quality.MISSING}
SENDER = "heat-csv"  # stands where an E66 has its sender GLN; no market message lies behind these rows
NO_MESSAGE = 0


@dataclass(frozen=True)
class HeatSeries:
    start: datetime
    resolution_minutes: int
    unit: str
    values_micro: tuple[int, ...]
    quality: tuple[int, ...]

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.resolution_minutes * len(self.values_micro))


def _fail(line: int, message: str) -> RatingInputError:
    return RatingInputError(f"line {line}: {message}")


def _instant(text: str, line: int) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _fail(line, f"{text!r} is not an ISO 8601 instant") from None
    if value.tzinfo is None:
        raise _fail(line, f"{text!r} has no UTC offset")
    return value.astimezone(UTC)


def _micro(text: str, line: int) -> int:
    try:
        quantity = Decimal(text.strip())
    except InvalidOperation:
        raise _fail(line, f"{text!r} is not a decimal quantity") from None
    if not quantity.is_finite() or quantity < 0:
        raise _fail(line, f"quantity {text} must be a number ≥ 0")
    scaled = quantity.scaleb(6)
    if scaled != scaled.to_integral_value():
        raise _fail(line, f"quantity {text} has more than six decimals")
    return int(scaled)


def parse_heat_csv(text: str) -> list[HeatSeries]:
    rows = list(csv.reader(io.StringIO(text)))
    header = [c.strip().lower() for c in rows[0]] if rows else []
    if header[:2] != ["start_utc", "end_utc"] or len(header) not in (3, 4) or header[2] not in UNITS or (
        len(header) == 4 and header[3] != "quality"
    ):
        raise _fail(1, "the header must be start_utc,end_utc,kwh (or mwh), optionally ,quality")
    unit = UNITS[header[2]]
    runs: list[tuple[datetime, int, list[int], list[int]]] = []
    previous_end: datetime | None = None
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise _fail(line, f"expected {len(header)} columns, got {len(row)}")
        start, end = _instant(row[0], line), _instant(row[1], line)
        minutes = (end - start) / timedelta(minutes=1)
        if minutes not in RESOLUTIONS:
            raise _fail(line, f"an interval must be 15 or 60 minutes, got {minutes:g}")
        if start.minute % int(minutes) or start.second or start.microsecond:
            raise _fail(line, f"{row[0].strip()} is not aligned to {minutes:g} minutes")
        label = row[3].strip().lower() if len(row) == 4 else ""
        if label not in QUALITIES:
            raise _fail(line, f"quality {label!r} is not one of {', '.join(q for q in QUALITIES if q)}")
        quality = QUALITIES[label]
        value = 0 if quality is Quality.MISSING and not row[2].strip() else _micro(row[2], line)
        if previous_end is not None and start < previous_end:
            raise _fail(line, "rows overlap or are out of order")
        if runs and start == previous_end and runs[-1][1] == minutes:
            runs[-1][2].append(value)
            runs[-1][3].append(int(quality))
        else:
            runs.append((start, int(minutes), [value], [int(quality)]))
        previous_end = end
    if not runs:
        raise _fail(2, "no readings")
    return [HeatSeries(start, minutes, unit, tuple(v), tuple(q)) for start, minutes, v, q in runs]


def store_heat_series(session: Session, accounting_point: str, series: list[HeatSeries]) -> list[SeriesRef]:
    """Store the series in the caller's transaction through the metering store's one writer, as an E66's would be,
    and announce them; the stored keys with versions. A series equal to its period's latest version is not
    stored again: importing the same readings twice changes nothing."""
    if not is_valid_gsrn(accounting_point):
        raise RatingInputError(f"{accounting_point!r} is not a valid GSRN (18 digits, GS1 check digit)")
    now = utcnow()
    delivery = MeteringDelivery(NO_MESSAGE, SENDER, f"heat:{accounting_point}:{now.isoformat()}", [
        SeriesToStore(
            SeriesKey(accounting_point, ENERGY_PRODUCT, RESOLUTIONS[s.resolution_minutes], s.start, s.end), s.unit,
            len(s.values_micro), np.asarray(s.values_micro, dtype=VALUES_DTYPE).tobytes(),
            np.asarray(s.quality, dtype=QUALITY_DTYPE).tobytes(), str(uuid.uuid4()))
        for s in series])
    (stored,) = store_series(session, [delivery], now, skip_unchanged=True)
    return stored


def import_heat_csv(engine: Engine, path: str | Path, accounting_point: str) -> list[SeriesRef]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise RatingInputError(f"cannot read {path}: {error}") from None
    series = parse_heat_csv(text)
    with Session(engine) as session, session.begin():
        return store_heat_series(session, accounting_point, series)
