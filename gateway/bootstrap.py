"""Wiring: which handler serves which outbox topic. Done once here so entry points and tests agree."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.apply import TOPIC_RELEASE_PARKED
from gateway.billing.handlers import register_billing_handlers
from gateway.config import Settings
from gateway.outbound import register_datahub_send
from gateway.rating.handlers import register_rating_handlers
from gateway.receive import Receiver
from outbox import HandlerRegistry, OutboxMessage


def build_registry(settings: Settings, engine: Engine) -> HandlerRegistry:
    registry = HandlerRegistry()
    receiver = Receiver(engine, max_bytes=settings.max_message_bytes)

    def release_parked(session: Session, message: OutboxMessage) -> None:
        receiver.retry_parked(session, int(message.payload["parked_id"]))

    registry.register(TOPIC_RELEASE_PARKED, release_parked, consumer="gateway.parked")
    register_datahub_send(registry, settings)  # only when [datahub] names an endpoint
    register_rating_handlers(registry, engine, settings)
    register_billing_handlers(registry, engine, settings)
    return registry
