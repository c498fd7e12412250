"""HTTP-level checks of requests to our SOAP endpoint, answered as SOAP Faults (a SOAP client understands them;
aiohttp's own answers would be plain-text 413s and the like).

* The body must fit the limit (the largest business document we accept plus room for the envelope): a declared
  `Content-Length` over it is refused before a byte is read, a chunked body as soon as it passes the limit.
* The media type must be SOAP 1.2's `application/soap+xml` or SOAP 1.1's `text/xml` (a SOAP 1.1 envelope then
  gets the VersionMismatch Fault it deserves).

The body is read here, within the limit; aiohttp keeps it, so the endpoint's `request.read()` gets the same bytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from gateway.access_log import note
from gateway.soap import envelope
from gateway.soap.envelope import SOAP12_CONTENT_TYPE

SOAP_MEDIA_TYPES = frozenset({"application/soap+xml", "text/xml"})
HTTP_TOO_LARGE = "HTTP.BODY_TOO_LARGE"
HTTP_MEDIA_TYPE = "HTTP.UNSUPPORTED_MEDIA_TYPE"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _fault(status: int, code: str, reason: str) -> web.Response:
    note(result=code)
    body = envelope.fault("Sender", reason, code)
    return web.Response(body=body, status=status, headers={"Content-Type": SOAP12_CONTENT_TYPE})


def _size(value: int) -> str:
    return f"{value:,} bytes".replace(",", " ")


def soap_request_checks(path: str, max_body_bytes: int) -> Middleware:
    """Middleware checking POSTs to ``path``; other requests pass untouched."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "POST" or request.path != path:
            return await handler(request)
        declared = request.content_length
        if declared is not None and declared > max_body_bytes:
            return _fault(413, HTTP_TOO_LARGE, f"the request body is {_size(declared)}; the limit is "
                                               f"{_size(max_body_bytes)}")
        media_type = request.content_type.lower()  # without parameters; application/octet-stream when absent
        if media_type not in SOAP_MEDIA_TYPES or "Content-Type" not in request.headers:
            sent = request.headers.get("Content-Type", "none")
            return _fault(415, HTTP_MEDIA_TYPE, f"Content-Type {sent[:100]!r} is not a SOAP media type: send "
                                                "application/soap+xml (SOAP 1.2)")
        try:
            await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _fault(413, HTTP_TOO_LARGE, f"the request body is more than {_size(max_body_bytes)}, the limit")
        return await handler(request)

    return check
