"""Outbox consumers that re-rate recorded periods when their inputs change.

``metering.received``, ``prices.imported``, ``masterdata.accounting_point`` (a new E58 version: tax category,
fuse) and ``masterdata.agreement`` (a sales agreement's start, end or product) only find the recorded periods
they touch and fan out one ``rating.rerate`` message per period: a price correction can touch every spot
customer, and one transaction per period keeps each handler short (well inside the outbox lease) and isolates
a period that cannot be re-rated. Each handler runs in the worker's transaction with its inbox row, so a delta
is stored exactly once. Re-rating reads the current state rather than the event, so a late or repeated event
simply finds nothing changed. A period that cannot be re-rated now (held for missing data, prices missing)
fails its own message: the outbox retries it with backoff and finally keeps it as a dead letter with the
reason, holding back later re-ratings of that period only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.config import Settings
from gateway.events import (
    ACCOUNTING_POINT_CHANGED,
    AGREEMENT_CHANGED,
    METERING_RECEIVED,
    PRICES_IMPORTED,
    RATING_RERATE,
    RERATE_ON_AGREEMENT,
    RERATE_ON_MASTER_DATA,
    RERATE_ON_METERING,
    RERATE_ON_PRICES,
    RERATE_PERIOD,
)
from gateway.rating.service import rated_periods_overlapping, rerate
from outbox import HandlerRegistry, OutboxMessage

# The name the heat CSV import enqueues with; the topics and consumers are declared in gateway.events.
TOPIC_METERING = METERING_RECEIVED.name

# Bounds for "from this instant on" and "since ever": recorded periods are searched by overlap.
_EVER_AFTER = datetime(9000, 1, 1, tzinfo=UTC)
_SINCE_EVER = datetime(1900, 1, 1, tzinfo=UTC)

log = logging.getLogger("gateway.rating")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _fan_out(session: Session, periods: Iterable[tuple[str, date, date]], cause: str) -> int:
    count = 0
    for gsrn, first, last in sorted(set(periods)):
        RATING_RERATE.emit(session, {"accounting_point": gsrn, "period_start": first.isoformat(),
                                      "period_end": last.isoformat(), "cause": cause},
             key=f"{gsrn}:{first.isoformat()}:{last.isoformat()}")
        count += 1
    return count


def _recorded(session: Session, point: str, start: datetime, end: datetime) -> list[tuple[str, date, date]]:
    return [(gsrn, first, last) for gsrn, first, last, _ in rated_periods_overlapping(session, start, end, point)]


def rerate_on_metering(session: Session, message: OutboxMessage) -> None:
    spans: dict[str, tuple[datetime, datetime]] = {}
    for series in METERING_RECEIVED.payload(message).get("series", []):
        point, start, end = series["accounting_point"], _instant(series["start"]), _instant(series["end"])
        low, high = spans.get(point, (start, end))
        spans[point] = (min(low, start), max(high, end))
    periods = [period for point, (start, end) in spans.items() for period in _recorded(session, point, start, end)]
    _fan_out(session, periods, f"{TOPIC_METERING}:{message.message_id}")


def rerate_on_prices(session: Session, message: OutboxMessage) -> None:
    periods = []
    for span in PRICES_IMPORTED.payload(message).get("spans", []):
        zone, start, end = span["zone"], _instant(span["start"]), _instant(span["end"])
        periods += [(gsrn, first, last) for gsrn, first, last, inputs in rated_periods_overlapping(session, start, end)
                    if zone in inputs.get("price_zones", [])]
    _fan_out(session, periods, f"{PRICES_IMPORTED.name}:{message.message_id}")


def rerate_on_master_data(session: Session, message: OutboxMessage) -> None:
    """A master-data version counts for every period that ends after it starts (the latest version valid
    before a period's end rates it): those recorded periods of the point are re-rated."""
    data = ACCOUNTING_POINT_CHANGED.payload(message)
    periods = _recorded(session, data["gsrn"], _instant(data["valid_from"]), _EVER_AFTER)
    _fan_out(session, periods, f"{ACCOUNTING_POINT_CHANGED.name}:{message.message_id}")


def rerate_on_agreement(session: Session, message: OutboxMessage) -> None:
    """A new (or updated) agreement changes the periods it covers; an end notice the periods from its end on."""
    data = AGREEMENT_CHANGED.payload(message)
    point = data["accounting_point"]
    if not point:
        log.warning("agreement event %s names no accounting point: nothing to re-rate", message.message_id)
        return
    start, end = data.get("start"), data.get("end")
    if data["event"] == "new":
        span = (_instant(start) if start else _SINCE_EVER, _instant(end) if end else _EVER_AFTER)
    else:
        span = (_instant(end) if end else _SINCE_EVER, _EVER_AFTER)
    _fan_out(session, _recorded(session, point, *span), f"{AGREEMENT_CHANGED.name}:{message.message_id}")


def rerate_period(session: Session, message: OutboxMessage) -> None:
    data = RATING_RERATE.payload(message)
    gsrn = data["accounting_point"]
    first, last = date.fromisoformat(data["period_start"]), date.fromisoformat(data["period_end"])
    result = rerate(session, gsrn, first, last, cause=data.get("cause", message.message_id))
    if result is not None:
        log.info("re-rated %s %s…%s: revision %d, delta %s €", gsrn, first, last, result.revision,
                 result.delta_total)


def register_rating_handlers(registry: HandlerRegistry, engine: Engine, settings: Settings) -> None:
    """Wire the re-rating consumers; ``engine`` and ``settings`` are accepted for symmetry with other wirings."""
    del engine, settings
    for consumer, handler in ((RERATE_ON_METERING, rerate_on_metering), (RERATE_ON_PRICES, rerate_on_prices),
                              (RERATE_ON_MASTER_DATA, rerate_on_master_data),
                              (RERATE_ON_AGREEMENT, rerate_on_agreement), (RERATE_PERIOD, rerate_period)):
        registry.register(consumer.topic.name, handler, consumer=consumer.name)
