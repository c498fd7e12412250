"""Handlers by topic. A handler is a plain function run inside the transaction that marks its message done."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from outbox.core import OutboxMessage

Handler = Callable[[Session, OutboxMessage], None]


@dataclass(frozen=True)
class Registration:
    topic: str
    consumer: str
    handler: Handler


class HandlerRegistry:
    def __init__(self) -> None:
        self._by_topic: dict[str, Registration] = {}

    def register(self, topic: str, handler: Handler, *, consumer: str | None = None) -> None:
        if topic in self._by_topic:
            raise ValueError(f"topic {topic!r} already has a handler")
        self._by_topic[topic] = Registration(topic, consumer or topic, handler)

    def handler(self, topic: str, *, consumer: str | None = None) -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            self.register(topic, fn, consumer=consumer)
            return fn

        return decorate

    def get(self, topic: str) -> Registration:
        try:
            return self._by_topic[topic]
        except KeyError:
            raise LookupError(f"no handler registered for topic {topic!r}") from None

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_topic))
