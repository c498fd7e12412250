"""Consumers and their handlers. A topic may have any number of consumers; each consumer has one topic.

Two kinds of handler:

* a plain handler, `handler(session, message)`, runs inside the transaction that records the message in the
  consumer's inbox and marks its delivery done: its database effects happen exactly once;
* an external call (:class:`outbox.external.ExternalCall`) for side effects outside the database, run between
  two short transactions with no transaction open during the call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from outbox.core import OutboxMessage
from outbox.external import ExternalCall

Handler = Callable[[Session, OutboxMessage], None]


@dataclass(frozen=True)
class Registration:
    topic: str
    consumer: str
    handler: Handler | None = None
    external: ExternalCall[Any, Any] | None = None


class HandlerRegistry:
    def __init__(self) -> None:
        self._by_consumer: dict[str, Registration] = {}

    def register(self, topic: str, handler: Handler, *, consumer: str | None = None) -> None:
        """Serve `consumer` (default: the topic's name) of `topic` with a handler run in the delivery's
        transaction."""
        self._add(Registration(topic, consumer or topic, handler=handler))

    def register_external(self, topic: str, call: ExternalCall[Any, Any], *, consumer: str | None = None) -> None:
        """Serve `consumer` of `topic` with an external call (see :class:`outbox.external.ExternalCall`)."""
        self._add(Registration(topic, consumer or topic, external=call))

    def handler(self, topic: str, *, consumer: str | None = None) -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            self.register(topic, fn, consumer=consumer)
            return fn

        return decorate

    def _add(self, registration: Registration) -> None:
        if registration.consumer in self._by_consumer:
            raise ValueError(f"consumer {registration.consumer!r} already has a handler")
        self._by_consumer[registration.consumer] = registration

    def consumer(self, name: str) -> Registration:
        try:
            return self._by_consumer[name]
        except KeyError:
            raise LookupError(f"no handler registered for consumer {name!r}") from None

    @property
    def registrations(self) -> tuple[Registration, ...]:
        return tuple(self._by_consumer[name] for name in sorted(self._by_consumer))

    @property
    def consumers(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_consumer))

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(sorted({r.topic for r in self._by_consumer.values()}))

    def subscriptions(self) -> dict[str, str]:
        """consumer → topic, the form `outbox.subscriptions.sync` takes."""
        return {r.consumer: r.topic for r in self._by_consumer.values()}
