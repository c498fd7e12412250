"""Our market-party SOAP endpoint, driven by zeep (through the gateway's own Datahub client) over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tenacity import wait_none

from gateway.app import create_app
from gateway.config import Settings
from gateway.receive import CHANNEL_DATAHUB, Receiver
from gateway.soap.datahub_client import DatahubClient, DatahubFault
from gateway.store.tables import MessageRecord
from mappings import samples
from tests.support.pipeline import fixture, register_parties

Start = Callable[..., Awaitable[Callable[[str], DatahubClient]]]


@pytest.fixture
async def endpoint(aiohttp_server: Any, engine: Engine, database_url: str) -> AsyncIterator[Any]:
    register_parties(engine)
    receiver = Receiver(engine)
    for n in (1, 2, 3):
        receiver.receive(fixture(f"e58-accounting-point-{n}.xml"), authenticated_gln=samples.DATAHUB_GLN,
                         channel=CHANNEL_DATAHUB)
    server = await aiohttp_server(create_app(Settings(database_url=database_url), engine))
    clients: list[DatahubClient] = []

    def client(token: str) -> DatahubClient:
        clients.append(DatahubClient(str(server.make_url("/soap/b2b")), headers={"Authorization": f"Bearer {token}"},
                                     retries=1, retry_wait=wait_none()))
        return clients[-1]

    yield server, client
    for c in clients:
        c.close()


async def call(function: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)


async def test_send_then_peek_the_ack_then_dequeue(endpoint: Any) -> None:
    _server, client = endpoint
    dso = client("dso-token")
    reference = await call(dso.send, fixture("e66-winter-day-pt15m.xml"))
    assert reference
    peeked = await call(dso.peek)
    assert peeked is not None
    ack = etree.fromstring(peeked.payload)
    assert etree.QName(ack).localname == "AcknowledgementMessage"
    assert b"BA01" in peeked.payload and b"e66-winter-0001" in peeked.payload
    await call(dso.dequeue, peeked.ref)
    assert await call(dso.peek) is None
    # A resend of the same bytes answers the same reference and queues nothing new.
    assert await call(dso.send, fixture("e66-winter-day-pt15m.xml")) == reference
    assert await call(dso.peek) is None


async def test_schema_errors_are_soap_faults_with_cms_fault_detail(endpoint: Any) -> None:
    _server, client = endpoint
    with pytest.raises(DatahubFault) as fault:
        await call(client("dso-token").send, fixture("invalid-schema-e66-negative-qty.xml"))
    assert fault.value.error_code.startswith("XSD.")
    assert fault.value.identification == "e66-winter-0001"
    assert "line" in (fault.value.details or "")


async def test_event_errors_travel_as_a_negative_ack(endpoint: Any) -> None:
    _server, client = endpoint
    dso = client("dso-token")
    await call(dso.send, fixture("invalid-event-e66-seq-gap.xml"))
    peeked = await call(dso.peek)
    assert peeked is not None and b"BA02" in peeked.payload and b"EC.GW.114" in peeked.payload


async def test_process_message_answers_with_the_ack_synchronously(endpoint: Any) -> None:
    _server, client = endpoint
    answer = await call(client("dso-token").process, fixture("e66-pt1h-day.xml"))
    assert b"AcknowledgementMessage" in answer and b"BA01" in answer


async def test_process_errors_are_faults(endpoint: Any) -> None:
    _server, client = endpoint
    # The other retailer authenticates fine but is not the message's physical sender.
    with pytest.raises(DatahubFault) as fault:
        await call(client("other-token").send, fixture("e66-pt1h-day.xml"))
    assert fault.value.error_code == "PRC.SENDER_NOT_AUTHENTICATED"


async def test_unknown_party_gets_401_and_unknown_reference_a_fault(endpoint: Any) -> None:
    server, client = endpoint
    async with aiohttp.ClientSession() as http:
        soap = {"Content-Type": "application/soap+xml; charset=utf-8"}
        response = await http.post(server.make_url("/soap/b2b"), data=b"<x/>",
                                   headers={**soap, "Authorization": "Bearer nobody"})
        assert response.status == 401 and b"AUTH.UNKNOWN_PARTY" in await response.read()
        garbage = await http.post(server.make_url("/soap/b2b"), data=b"not xml",
                                  headers={**soap, "Authorization": "Bearer dso-token"})
        assert garbage.status == 400 and b"CMSFault" in await garbage.read()
    with pytest.raises(DatahubFault) as fault:
        await call(client("dso-token").dequeue, "no-such-reference")
    assert fault.value.error_code == "QUEUE.UNKNOWN_REFERENCE"


async def test_wsdl_is_served_with_our_address(endpoint: Any) -> None:
    server, _client = endpoint
    async with aiohttp.ClientSession() as http:
        response = await http.get(server.make_url("/soap/b2b?wsdl"))
        body = await response.read()
    assert response.status == 200
    assert str(server.make_url("/soap/b2b")).encode() in body


async def test_an_internal_error_is_a_fault_that_stores_nothing_and_a_resend_succeeds(
    endpoint: Any, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gateway.apply as apply

    _server, client = endpoint
    dso = client("dso-token")
    real_pack = apply.pack

    def failing_pack(txn: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(apply, "pack", failing_pack)
    with pytest.raises(DatahubFault) as fault:
        await call(dso.send, fixture("e66-winter-day-pt15m.xml"))
    assert fault.value.error_code == "GW.INTERNAL_ERROR"
    assert "disk on fire" not in str(fault.value), "internals stay in the log"
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(MessageRecord)).scalar_one() == 3  # the E58s only
    assert await call(dso.peek) is None, "no ACK was queued"

    monkeypatch.setattr(apply, "pack", real_pack)
    assert await call(dso.send, fixture("e66-winter-day-pt15m.xml"))
    peeked = await call(dso.peek)
    assert peeked is not None and b"BA01" in peeked.payload
