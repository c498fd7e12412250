"""Wiring of invoicing's outbox consumers (called once from ``gateway.bootstrap``; declared in gateway.events)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from gateway.billing.corrections import on_rating_revised
from gateway.billing.final import on_agreement_event, on_final_invoice
from gateway.config import Settings
from gateway.events import BILLING_AGREEMENT_ENDED, BILLING_CORRECTIONS, BILLING_FINAL_INVOICE
from outbox import HandlerRegistry


def register_billing_handlers(registry: HandlerRegistry, engine: Engine, settings: Settings) -> None:
    """``engine`` and ``settings`` are accepted for symmetry with the other wirings."""
    del engine, settings
    for consumer, handler in ((BILLING_CORRECTIONS, on_rating_revised), (BILLING_AGREEMENT_ENDED, on_agreement_event),
                              (BILLING_FINAL_INVOICE, on_final_invoice)):
        registry.register(consumer.topic.name, handler, consumer=consumer.name)
