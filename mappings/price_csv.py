"""A simple spot price CSV → ``PriceSeries``.

Format: a header ``start_utc,end_utc,eur_per_mwh`` and one row per interval, instants in ISO 8601 with
``Z`` or an offset, each interval 15 or 60 minutes. Rows must be in time order; a gap or a change of
resolution starts a new series. Prices keep their sign and must not be finer than 0.001 €/MWh.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from gateway.rating.core.series import PriceSeries

HEADER = ["start_utc", "end_utc", "eur_per_mwh"]


class PriceCsvError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


def _instant(text: str, line: int) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise PriceCsvError(line, f"{text!r} is not an ISO 8601 instant") from None
    if value.tzinfo is None:
        raise PriceCsvError(line, f"{text!r} has no UTC offset")
    return value.astimezone(UTC)


def parse_price_csv(text: str, zone: str) -> list[PriceSeries]:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [c.strip() for c in rows[0]] != HEADER:
        raise PriceCsvError(1, f"the header must be {','.join(HEADER)}")
    runs: list[tuple[datetime, int, list[Decimal]]] = []
    previous_end: datetime | None = None
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 3:
            raise PriceCsvError(line, f"expected 3 columns, got {len(row)}")
        start, end = _instant(row[0], line), _instant(row[1], line)
        minutes = (end - start) / timedelta(minutes=1)
        if minutes not in (15, 60):
            raise PriceCsvError(line, f"an interval must be 15 or 60 minutes, got {minutes:g}")
        try:
            price = Decimal(row[2].strip())
        except InvalidOperation:
            raise PriceCsvError(line, f"{row[2]!r} is not a decimal price") from None
        if previous_end is not None and start < previous_end:
            raise PriceCsvError(line, "rows overlap or are out of order")
        if runs and start == previous_end and runs[-1][1] == minutes:
            runs[-1][2].append(price)
        else:
            runs.append((start, int(minutes), [price]))
        previous_end = end
    if not runs:
        raise PriceCsvError(2, "no price rows")
    try:
        return [PriceSeries(zone, start, minutes, tuple(prices)) for start, minutes, prices in runs]
    except ValueError as error:
        raise PriceCsvError(0, str(error)) from None
