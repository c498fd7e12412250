"""Wiring of invoicing's outbox consumers (called once from ``gateway.bootstrap``)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from gateway.billing.corrections import on_rating_revised
from gateway.billing.events import (
    CONSUMER_AGREEMENT_ENDED,
    CONSUMER_CORRECTIONS,
    CONSUMER_FINAL_INVOICE,
    TOPIC_AGREEMENT,
    TOPIC_FINAL_INVOICE,
    TOPIC_RATING_REVISED,
)
from gateway.billing.final import on_agreement_event, on_final_invoice
from gateway.config import Settings
from outbox import HandlerRegistry


def register_billing_handlers(registry: HandlerRegistry, engine: Engine, settings: Settings) -> None:
    """``engine`` and ``settings`` are accepted for symmetry with the other wirings."""
    del engine, settings
    registry.register(TOPIC_RATING_REVISED, on_rating_revised, consumer=CONSUMER_CORRECTIONS)
    registry.register(TOPIC_AGREEMENT, on_agreement_event, consumer=CONSUMER_AGREEMENT_ENDED)
    registry.register(TOPIC_FINAL_INVOICE, on_final_invoice, consumer=CONSUMER_FINAL_INVOICE)
