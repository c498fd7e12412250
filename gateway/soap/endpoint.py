"""Our SOAP 1.2 endpoint for market parties (`POST /soap/b2b`, WSDL at `GET /soap/b2b?wsdl`).

It speaks Datahub's own Messages.wsdl so a party can point the client it already uses for Datahub at us.
Callers authenticate with a bearer token or, when we terminate TLS, a client certificate whose SHA-256
fingerprint is registered for the party. Schema and process errors are Faults; event results are ACK messages
queued for the sender to peek and dequeue.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.access_log import note
from gateway.parties import PartyInfo, authenticate_certificate, authenticate_token
from gateway.receive import CHANNEL_SOAP, ReceiveOutcome, Receiver
from gateway.soap import envelope
from gateway.soap.envelope import SOAP12_CONTENT_TYPE, FaultCode, SoapRequest, SoapRequestError
from gateway.store.tables import PartyQueueItem

log = logging.getLogger("gateway.soap.endpoint")

ENDPOINT_ENGINE = web.AppKey("soap_engine", Engine)
ENDPOINT_RECEIVER = web.AppKey("soap_receiver", Receiver)
ENDPOINT_PUBLIC_URL = web.AppKey("soap_public_url", str)
SOAP_PATH = "/soap/b2b"


def _soap(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, headers={"Content-Type": SOAP12_CONTENT_TYPE})


def _fault(code: str, reason: str, *, status: int, identification: str | None = None,
           details: str | None = None) -> web.Response:
    soap_code: FaultCode = "Sender" if status < 500 else "Receiver"
    note(result=code)
    body = envelope.fault(soap_code, reason, code, identification, details)
    return _soap(body, status)


def _certificate_fingerprint(request: web.Request) -> str | None:
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest() if der else None


def _authenticate(engine: Engine, request: web.Request) -> PartyInfo | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return authenticate_token(engine, header[7:].strip())
    fingerprint = _certificate_fingerprint(request)
    return authenticate_certificate(engine, fingerprint) if fingerprint else None


def service_address(request: web.Request) -> str:
    """Where clients send SOAP requests: ``public_url`` when configured, else the address and port of our own
    listening socket that this connection reached — never the request's Host header, which the caller writes."""
    public = request.app.get(ENDPOINT_PUBLIC_URL)
    if public:
        return public + SOAP_PATH
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if not sockname:
        raise web.HTTPServiceUnavailable(text="no public_url is configured and the local address is unknown")
    host, port = str(sockname[0]), int(sockname[1])
    scheme = "https" if transport is not None and transport.get_extra_info("sslcontext") else "http"
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}{SOAP_PATH}"


async def handle_wsdl(request: web.Request) -> web.Response:
    if "wsdl" not in {k.lower() for k in request.query}:
        raise web.HTTPNotFound(text="GET ?wsdl for the service description; SOAP requests are POSTed")
    body = envelope.wsdl_document(service_address(request))
    return web.Response(body=body, content_type="text/xml", charset="utf-8")


async def handle_soap(request: web.Request) -> web.Response:
    engine = request.app[ENDPOINT_ENGINE]
    party = await asyncio.to_thread(_authenticate, engine, request)
    if party is None:
        response = _fault("AUTH.UNKNOWN_PARTY", "unknown party: present a registered bearer token or client "
                          "certificate", status=401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="datahub-gateway"'
        return response
    note(party=party.gln)
    receiver = request.app[ENDPOINT_RECEIVER]
    data = await request.read()
    try:
        soap = envelope.parse_request(data, receiver.max_bytes)
        note(operation=soap.operation)
        if soap.operation in ("sendMessage", "processMessage"):
            return await _receive(receiver, party, soap, data)
        if soap.operation == "peekMessage":
            return _soap(await asyncio.to_thread(_peek, engine, party.gln))
        return await _dequeue(engine, party.gln, soap)
    except SoapRequestError as exc:
        note(result=exc.error_code)
        return _soap(exc.to_fault(), exc.http_status)
    except Exception:
        log.exception("internal error on %s from %s", request.path, party.gln)
        return _fault("GW.INTERNAL_ERROR", "internal error; nothing was stored, the message may be sent again",
                      status=500)


async def _receive(receiver: Receiver, party: PartyInfo, soap: SoapRequest, data: bytes) -> web.Response:
    if soap.payload_element is None:
        raise SoapRequestError(envelope.SOAP_NO_PAYLOAD, f"{soap.operation} carries no payload")
    # The request exactly as received is what the pipeline reads and archives (with where its payload starts):
    # error positions are in the sender's own bytes.
    outcome: ReceiveOutcome = await asyncio.to_thread(
        receiver.receive, data, authenticated_gln=party.gln, channel=CHANNEL_SOAP,
        parsed=soap.body_element.getroottree(),
    )
    note(message_id=outcome.message_id, result=outcome.result)
    if outcome.is_fault:
        details = "; ".join(
            (f"line {e.line}" + (f", column {e.column}" if e.column else "") + ": " if e.line else "") + e.text
            for e in outcome.errors
        ) + (f" ({outcome.error_count:,} errors in all; the first {len(outcome.errors)} are listed)"
             if outcome.more_errors else "")
        return _fault(outcome.reason_code or "REJECTED", outcome.errors[0].text if outcome.errors else "rejected",
                      status=400, identification=outcome.message_id, details=details[:200_000])
    reference = str(outcome.message_pk) if outcome.message_pk is not None else None
    if soap.operation == "processMessage":
        if outcome.ack is None:
            return _fault("PROCESS.NO_RESULT", "the message was accepted but produced no answer", status=500)
        return _soap(envelope.process_message_response(reference, outcome.ack))
    assert reference is not None
    return _soap(envelope.send_message_response(reference))


def _peek(engine: Engine, gln: str) -> bytes:
    with Session(engine.execution_options(sqlite_begin="DEFERRED")) as session:
        item = session.execute(
            select(PartyQueueItem)
            .where(col(PartyQueueItem.recipient_gln) == gln, col(PartyQueueItem.dequeued_at).is_(None))
            .order_by(col(PartyQueueItem.id))
            .limit(1)
        ).scalar_one_or_none()
        if item is None:
            return envelope.empty_peek_message_response()
        return envelope.peek_message_response(item.reference, item.body)


async def _dequeue(engine: Engine, gln: str, soap: SoapRequest) -> web.Response:
    reference = soap.document_reference_number or ""

    def mark() -> int:
        with Session(engine) as session, session.begin():
            result = session.execute(
                update(PartyQueueItem)
                .where(col(PartyQueueItem.reference) == reference, col(PartyQueueItem.recipient_gln) == gln,
                       col(PartyQueueItem.dequeued_at).is_(None))
                .values(dequeued_at=datetime.now(UTC))
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    if await asyncio.to_thread(mark) != 1:
        return _fault("QUEUE.UNKNOWN_REFERENCE", f"no message {reference!r} waiting in your queue", status=400,
                      identification=reference)
    return _soap(envelope.dequeue_message_response())


def add_routes(app: web.Application, engine: Engine, receiver: Receiver, public_url: str | None = None) -> None:
    app[ENDPOINT_ENGINE] = engine
    app[ENDPOINT_RECEIVER] = receiver
    if public_url:
        app[ENDPOINT_PUBLIC_URL] = public_url.rstrip("/")
    app.router.add_post(SOAP_PATH, handle_soap)
    app.router.add_get(SOAP_PATH, handle_wsdl)
