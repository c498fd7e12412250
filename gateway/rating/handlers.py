"""Outbox consumers that re-rate recorded periods when new metering or price versions arrive.

``metering.received`` and ``prices.imported`` only find the recorded periods they touch and fan out one
``rating.rerate`` message per period: a price correction can touch every spot customer, and one
transaction per period keeps each handler short (well inside the outbox lease) and isolates a period that
cannot be re-rated. Each handler runs in the worker's transaction with its inbox row, so a delta is stored
exactly once. Re-rating reads the current state rather than the event, so a late or repeated event simply
finds nothing changed. A period that cannot be re-rated now (held for missing data, prices missing) fails
its own message: the outbox retries it with backoff and finally keeps it as a dead letter with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.config import Settings
from gateway.rating.prices import TOPIC_PRICES
from gateway.rating.service import rated_periods_overlapping, rerate
from outbox import HandlerRegistry, OutboxMessage, enqueue

TOPIC_METERING = "metering.received"  # written by gateway.apply and by the heat CSV import
CONSUMER_METERING = "rating.rerate-on-metering"
CONSUMER_PRICES = "rating.rerate-on-prices"
TOPIC_RERATE = "rating.rerate"
CONSUMER_RERATE = "rating.rerate-period"

log = logging.getLogger("gateway.rating")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _fan_out(session: Session, periods: Iterable[tuple[str, date, date]], cause: str) -> int:
    count = 0
    for gsrn, first, last in sorted(set(periods)):
        enqueue(session, TOPIC_RERATE, {"accounting_point": gsrn, "period_start": first.isoformat(),
                                        "period_end": last.isoformat(), "cause": cause},
                key=f"{gsrn}:{first.isoformat()}:{last.isoformat()}")
        count += 1
    return count


def rerate_on_metering(session: Session, message: OutboxMessage) -> None:
    spans: dict[str, tuple[datetime, datetime]] = {}
    for series in message.payload.get("series", []):
        point, start, end = series["accounting_point"], _instant(series["start"]), _instant(series["end"])
        low, high = spans.get(point, (start, end))
        spans[point] = (min(low, start), max(high, end))
    periods = [(gsrn, first, last)
               for point, (start, end) in spans.items()
               for gsrn, first, last, _ in rated_periods_overlapping(session, start, end, point)]
    _fan_out(session, periods, f"{TOPIC_METERING}:{message.message_id}")


def rerate_on_prices(session: Session, message: OutboxMessage) -> None:
    periods = []
    for span in message.payload.get("spans", []):
        zone, start, end = span["zone"], _instant(span["start"]), _instant(span["end"])
        periods += [(gsrn, first, last) for gsrn, first, last, inputs in rated_periods_overlapping(session, start, end)
                    if zone in inputs.get("price_zones", [])]
    _fan_out(session, periods, f"{TOPIC_PRICES}:{message.message_id}")


def rerate_period(session: Session, message: OutboxMessage) -> None:
    payload = message.payload
    gsrn = payload["accounting_point"]
    first, last = date.fromisoformat(payload["period_start"]), date.fromisoformat(payload["period_end"])
    result = rerate(session, gsrn, first, last, cause=payload.get("cause", message.message_id))
    if result is not None:
        log.info("re-rated %s %s…%s: revision %d, delta %s €", gsrn, first, last, result.revision,
                 result.delta_total)


def register_rating_handlers(registry: HandlerRegistry, engine: Engine, settings: Settings) -> None:
    """Wire the re-rating consumers; ``engine`` and ``settings`` are accepted for symmetry with other wirings."""
    del engine, settings
    registry.register(TOPIC_METERING, rerate_on_metering, consumer=CONSUMER_METERING)
    registry.register(TOPIC_PRICES, rerate_on_prices, consumer=CONSUMER_PRICES)
    registry.register(TOPIC_RERATE, rerate_period, consumer=CONSUMER_RERATE)
