"""Putting rating inputs into the store the way the receive pipeline does (E58, F04, E66 rows + outbox)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from sqlalchemy import insert
from sqlalchemy.orm import Session

from gateway.apply import TOPIC_METERING
from gateway.domain.identifiers import make_gsrn
from gateway.rating.core.calendar import local_midnight_utc
from gateway.rating.service import ENERGY_PRODUCT
from gateway.store.metering import SeriesKey, next_versions
from gateway.store.tables import AccountingPointRow, MeteringSeriesRow, SalesAgreementRow
from outbox import enqueue
from outbox.types import utcnow

ROOT = Path(__file__).resolve().parents[2]
DEMO_CATALOGUE = ROOT / "catalogue" / "demo.toml"
FI = "10YFI-1--------U"
POINT = make_gsrn("64300757400000001")
OTHER_POINT = make_gsrn("64300757400000002")
HEAT_POINT = make_gsrn("64300757400000003")


def add_master_data(session: Session, gsrn: str, *, tax_category: str | None = "1", fuse: str | None = "3x25",
                    valid_from: date = date(2020, 1, 1)) -> None:
    session.add(AccountingPointRow(gsrn=gsrn, valid_from=local_midnight_utc(valid_from), resolution="PT15M",
                                main_fuse=fuse, tax_category=tax_category, message_pk=1, received_at=utcnow()))


def add_agreement(session: Session, gsrn: str, product: str, start: date, end: date | None = None,
                  agreement_id: str = "A-1") -> None:
    session.add(SalesAgreementRow(accounting_point=gsrn, agreement_id=agreement_id, start=local_midnight_utc(start),
                               end=None if end is None else local_midnight_utc(end), product_code=product,
                               status="active", message_pk=1, received_at=utcnow()))


def add_metering(
    session: Session,
    gsrn: str,
    start: datetime,
    values_micro: Sequence[int] | np.ndarray,
    *,
    quality: Sequence[int] | np.ndarray | None = None,
    minutes: int = 15,
    unit: str = "kWh",
    announce: bool = False,
    received_at: datetime | None = None,
) -> int:
    """Store one series as the next version of its period (like gateway.apply); returns the version."""
    values = np.asarray(values_micro, dtype="<i8")
    codes = np.zeros(len(values), dtype=np.uint8) if quality is None else np.asarray(quality, dtype=np.uint8)
    end = start + timedelta(minutes=minutes * len(values))
    resolution = "PT15M" if minutes == 15 else "PT1H"
    key = SeriesKey(gsrn, ENERGY_PRODUCT, resolution, start, end)
    (version,) = next_versions(session, [key])
    session.execute(insert(MeteringSeriesRow), [{
        "accounting_point": gsrn, "product": ENERGY_PRODUCT, "unit": unit, "resolution": resolution,
        "period_start": start, "period_end": end, "version": version, "positions": len(values),
        "values": values.tobytes(), "quality": codes.tobytes(), "transaction_id": f"t-{gsrn}-{version}",
        "message_pk": 1, "received_at": received_at or utcnow(),
    }])
    if announce:
        enqueue(session, TOPIC_METERING, {"message_pk": 1, "sender": "6430075740005", "series": [
            {"accounting_point": gsrn, "start": start.isoformat(), "end": end.isoformat(),
             "resolution": resolution, "version": version}]})
    return version


def price_csv(start: datetime, prices: Sequence[Decimal], minutes: int = 15) -> str:
    step = timedelta(minutes=minutes)
    rows = ["start_utc,end_utc,eur_per_mwh"]
    for i, price in enumerate(prices):
        a, b = start + i * step, start + (i + 1) * step
        rows.append(f"{a.strftime('%Y-%m-%dT%H:%M:%SZ')},{b.strftime('%Y-%m-%dT%H:%M:%SZ')},{price}")
    return "\n".join(rows) + "\n"


def random_prices(rng: np.random.Generator, n: int) -> list[Decimal]:
    """€/MWh with up to two decimals, roughly a Finnish winter month, negative prices included."""
    return [Decimal(int(c)).scaleb(-2) for c in rng.integers(-50_000, 40_000, n)]


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)
