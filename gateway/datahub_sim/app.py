"""The simulator's HTTP face: SOAP 1.2 over aiohttp, speaking ``Messages.wsdl``.

``POST /`` (also ``/soap/b2b`` and the WSDL's own ``/soap/FGR``) takes MarketMessaging requests;
``GET /?wsdl`` returns the WSDL with its soap:address pointing at this server.
"""

from __future__ import annotations

import asyncio
from typing import Final

from aiohttp import web

from gateway.datahub_sim.simulator import DatahubSimulator, SimulatorFault
from gateway.soap import envelope
from gateway.soap.envelope import SoapRequest, SoapRequestError

SIMULATOR: Final = web.AppKey("datahub_simulator", DatahubSimulator)
SOAP_PATHS: Final = ("/", "/soap/b2b", "/soap/FGR")


def create_app(sim: DatahubSimulator) -> web.Application:
    app = web.Application(client_max_size=sim.max_bytes + 64 * 1024)
    app[SIMULATOR] = sim
    for path in SOAP_PATHS:
        app.router.add_post(path, handle_soap)
        app.router.add_get(path, handle_wsdl)
    return app


async def handle_wsdl(request: web.Request) -> web.Response:
    if "wsdl" not in {key.lower() for key in request.query}:
        raise web.HTTPNotFound(text="GET ?wsdl for the service description; SOAP requests are POSTed")
    body = envelope.wsdl_document(str(request.url.with_query(None)))
    return web.Response(body=body, content_type="text/xml", charset="utf-8")


async def handle_soap(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    data = await request.read()
    try:
        soap = envelope.parse_request(data, sim.max_bytes)
    except SoapRequestError as exc:
        return _soap_response(exc.to_fault(), exc.http_status)
    try:
        party = sim.identify(request.headers, _client_cert_common_name(request))
    except SimulatorFault as exc:
        return _fault_response(exc)

    injected = sim.faults.next_call(soap.operation)
    if "timeout" in injected:
        await asyncio.sleep(sim.timeout_delay)
        return web.Response(status=503, text="injected timeout: request dropped")
    if "http_5xx" in injected:
        return web.Response(status=503, text="injected HTTP 503: service unavailable")
    try:
        response = _soap_response(_dispatch(sim, party, soap, injected), 200)
    except SimulatorFault as exc:
        response = _fault_response(exc)
    except SoapRequestError as exc:
        response = _soap_response(exc.to_fault(), exc.http_status)
    if "slow" in injected:  # processed already: only the answer is late
        await asyncio.get_running_loop().run_in_executor(None, sim.hold_slow_answer)
    return response


def _dispatch(sim: DatahubSimulator, party: str, soap: SoapRequest, injected: frozenset[str]) -> bytes:
    if soap.operation == "peekMessage":
        message = sim.peek(party, soap.message_domains, duplicate="duplicate" in injected)
        if message is None:
            return envelope.empty_peek_message_response()
        return envelope.peek_message_response(message.ref, message.payload)
    if soap.operation == "dequeueMessage":
        ref = soap.document_reference_number or ""
        if "dequeue_fault" in injected:
            raise SimulatorFault(
                "SIM.DEQUEUE_FAILED",
                "dequeue failed (injected); the message stays in the queue",
                soap_code="Receiver",
                identification=ref,
            )
        sim.dequeue(party, ref)
        return envelope.dequeue_message_response()
    payload = soap.payload_element
    if payload is None:
        raise SimulatorFault("SIM.NO_PAYLOAD", f"{soap.operation} carries no business document")
    if soap.operation == "sendMessage":
        return envelope.send_message_response(sim.send_message(party, payload, reject="reject" in injected))
    ref, answer = sim.process_message(party, payload, reject="reject" in injected)
    return envelope.process_message_response(ref, answer)


def _client_cert_common_name(request: web.Request) -> str | None:
    transport = request.transport
    certificate = transport.get_extra_info("peercert") if transport is not None else None
    if not certificate:
        return None
    for rdn in certificate.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def _fault_response(exc: SimulatorFault) -> web.Response:
    body = envelope.fault(exc.soap_code, exc.reason, exc.error_code, exc.identification, exc.details)
    return _soap_response(body, envelope.fault_http_status(exc.soap_code))


def _soap_response(body: bytes, status: int) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/soap+xml", charset="utf-8")
