"""Daily consumption and day-ahead price of an accounting point over a span of local days (the point page's
chart): the latest metering version of every interval, summed per local day; the zone's mean price per day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
from sqlalchemy.orm import Session

from gateway.domain.periods import to_local
from gateway.rating.core.calendar import local_midnight_utc
from gateway.rating.core.money import KWH_PER_UNIT
from gateway.rating.core.quality import ESTIMATED_CODES, MISSING_CODES
from gateway.rating.core.rate import assemble
from gateway.rating.prices import FINLAND, load_prices
from gateway.rating.service import _metering as metering_inputs  # the series rating uses, in its precedence


@dataclass(frozen=True)
class Day:
    day: date
    kwh: Decimal | None  # None: no value stored for the day
    estimated: int
    missing: int
    price_c_per_kwh: Decimal | None  # mean day-ahead price, VAT 0


def daily(session: Session, gsrn: str, first: date, end: date, zone: str = FINLAND) -> list[Day]:
    series, _ = metering_inputs(session, gsrn, first, end)
    days = [first + timedelta(days=i) for i in range((end - first).days)]
    kwh: dict[date, tuple[Decimal | None, int, int]] = {d: (None, 0, 0) for d in days}
    if series:
        try:
            data = assemble(series, first, end)
        except ValueError:
            data = None
        if data is not None:
            for d in days:
                lo = data.grid.index_of(local_midnight_utc(d))
                hi = data.grid.index_of(local_midnight_utc(d + timedelta(days=1)))
                quality = data.quality[lo:hi]
                present = ~np.isin(quality, MISSING_CODES)
                total = (Decimal(int(data.values[lo:hi][present].sum())) / Decimal(1_000_000)
                         * KWH_PER_UNIT[data.unit]) if present.any() else None
                kwh[d] = (total, int(np.isin(quality, ESTIMATED_CODES).sum()), int((~present).sum()))
    prices: dict[date, list[Decimal]] = {}
    for price_series in load_prices(session, [zone], local_midnight_utc(first), local_midnight_utc(end)):
        for instant, price in zip(price_series.instants(), price_series.prices_eur_per_mwh, strict=True):
            prices.setdefault(_local_day(instant), []).append(price)
    return [Day(d, *kwh[d], _mean_cents(prices.get(d))) for d in days]


def _mean_cents(eur_per_mwh: list[Decimal] | None) -> Decimal | None:
    """Mean of €/MWh prices as c/kWh (1 €/MWh = 0.1 c/kWh)."""
    if not eur_per_mwh:
        return None
    return (sum(eur_per_mwh, Decimal(0)) / len(eur_per_mwh) / 10).quantize(Decimal("0.001"))


def _local_day(instant: datetime) -> date:
    return to_local(instant).date()
