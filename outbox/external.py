"""External calls: side effects outside the database (a SOAP send, a payment provider's REST call).

Registered with `HandlerRegistry.register_external(topic, ExternalCall(...), consumer=...)`, a delivery runs as

1. **claim** (the worker's usual claim: the delivery is leased to this worker);
2. **transaction 1**: renew the lease (and learn whether it is still ours), count the call in the delivery's
   `calls`, and run `prepare(session, message)`, which reads what to send and may mark the attempt in the
   application's own tables. It returns the request, or None when there is nothing to send (e.g. already
   sent): the delivery is then done. Commit.
3. **the call**: `call(request, message)` with no transaction open and no database lock held, while a heartbeat
   thread renews the lease every `OutboxSettings.heartbeat_interval`. An exception is a failed attempt
   (retried with backoff, finally a dead letter); return a value for answers that are decisions (e.g. a
   refusal), so that `record` stores them.
4. **transaction 2**: mark the delivery done *only if this worker still owns its lease*, record it in the
   consumer's inbox, and run `record(session, message, result)`. A worker that lost its lease during the call
   (its heartbeat failed, the lease ran out, another worker took the delivery) records nothing.

What this gives: a call is never made inside a transaction; a worker killed at any point leads to the same
delivery being called again after the lease (at-least-once), so **the far side must be idempotent for the
message** (Datahub refuses a message id it already has; the payment provider dedupes on our `billcode`).
`message.calls > 1` tells the call that an earlier one may have landed. `max_duration` is the longest one call
can take, client-side retries and their waits included; a worker refuses to start when it is not shorter than
the lease, so that a call has always ended before another worker can take the delivery over.

A call that learns the far side refused the request for good (an HTTP 4xx) raises :class:`PermanentFailure`:
the delivery is dead-lettered at once with that message instead of being retried on the schedule (a replay
after the cause is fixed calls again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from outbox.core import OutboxMessage

Request = TypeVar("Request")
Result = TypeVar("Result")


class PermanentFailure(Exception):
    """Raised by a call (or a handler) whose request will never succeed as it is: dead letter now, no retry."""


@dataclass(frozen=True)
class ExternalCall(Generic[Request, Result]):
    prepare: Callable[[Session, OutboxMessage], Request | None]
    call: Callable[[Request, OutboxMessage], Result]
    record: Callable[[Session, OutboxMessage, Result], None]
    max_duration: timedelta

    def __post_init__(self) -> None:
        if self.max_duration <= timedelta(0):
            raise ValueError("an external call needs a positive max_duration")
