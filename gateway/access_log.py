"""One access-log line per HTTP request: what happened, never what was sent.

A line carries the method, the path (without its query string), the status, the duration and, on the SOAP
endpoint, the authenticated party's GLN, the operation, the message id and the result (accepted, duplicate,
rejected, parked, or the Fault's error code). It never carries payloads, headers, tokens, query strings or
client addresses: message bodies hold personal data (F01 customers), and the party's GLN already says who
called. Handlers add their facts with ``note(…)``; the middleware writes the line when the response is done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass

from aiohttp import web

log = logging.getLogger("gateway.access")


@dataclass
class AccessNote:
    party: str | None = None
    operation: str | None = None
    message_id: str | None = None
    result: str | None = None

    def fields(self) -> str:
        pairs = (("party", self.party), ("operation", self.operation), ("message_id", self.message_id),
                 ("result", self.result))
        return "".join(f" {key}={_clean(value)}" for key, value in pairs if value)


_current: ContextVar[AccessNote | None] = ContextVar("gateway_access_note", default=None)


def _clean(value: str) -> str:
    """A value as one token: no spaces or control characters (a hostile message id cannot forge log lines)."""
    cleaned = "".join(ch if ch.isprintable() and not ch.isspace() else "_" for ch in value)
    return cleaned[:100]


def note(*, party: str | None = None, operation: str | None = None, message_id: str | None = None,
         result: str | None = None) -> None:
    """Add facts to the current request's access line (outside a request: nothing happens)."""
    current = _current.get()
    if current is None:
        return
    for key, value in (("party", party), ("operation", operation), ("message_id", message_id),
                       ("result", result)):
        if value is not None:
            setattr(current, key, value)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    current = AccessNote()
    token = _current.set(current)
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        _current.reset(token)
        log.info("%s %s %d%s %.1f ms", request.method, _clean(request.path), status, current.fields(),
                 (time.perf_counter() - started) * 1000)
