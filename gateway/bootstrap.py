"""Wiring: which handler serves which consumer declared in `gateway.events`. Done once here so entry points and
tests agree."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.billing.handlers import register_billing_handlers
from gateway.config import Settings
from gateway.events import PARKED_RELEASE, RELEASE_PARKED
from gateway.outbound import register_datahub_send
from gateway.payments.provider_calls import register_provider_calls
from gateway.payments.settings import provider_settings
from gateway.rating.handlers import register_rating_handlers
from gateway.receive import Receiver
from outbox import HandlerRegistry, OutboxMessage


def build_registry(settings: Settings, engine: Engine) -> HandlerRegistry:
    registry = HandlerRegistry()
    receiver = Receiver(engine, max_bytes=settings.max_message_bytes)

    def release_parked(session: Session, message: OutboxMessage) -> None:
        receiver.retry_parked(session, int(RELEASE_PARKED.payload(message)["parked_id"]))

    registry.register(RELEASE_PARKED.name, release_parked, consumer=PARKED_RELEASE.name)
    register_datahub_send(registry, settings)  # only when [datahub] names an endpoint
    register_rating_handlers(registry, engine, settings)
    register_billing_handlers(registry, engine, settings)
    register_provider_calls(registry, provider_settings(settings))  # only when [payment_provider] names a base_url
    return registry
