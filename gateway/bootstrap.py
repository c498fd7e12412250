"""Wiring: which handler serves which outbox topic. Done once here so entry points and tests agree."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from gateway.config import Settings
from outbox import HandlerRegistry


def build_registry(settings: Settings, engine: Engine) -> HandlerRegistry:
    registry = HandlerRegistry()
    return registry
