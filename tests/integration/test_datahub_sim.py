"""The Datahub simulator over real HTTP, driven by the zeep-based DatahubClient."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from lxml import etree
from tenacity import wait_none

from gateway.datahub_sim import (
    DatahubSimulator,
    FaultInjector,
    configure_parser,
    create_app,
    main,
    parse_fault_rule,
    run_simulator,
)
from gateway.datahub_sim.main import server_ssl_context
from gateway.soap.datahub_client import DatahubClient, DatahubFault, DatahubTransportError
from gateway.xml.hardened import parse_xml
from mappings import ack
from mappings.samples import (
    DATAHUB_GLN,
    OUR_DSO_GLN,
    OUR_SUPPLIER_GLN,
    e58_message,
    e66_message,
    gsrn,
)

DAY = date(2026, 3, 29)  # a 23-hour day: 92 quarter hours


def _c14n(data: bytes) -> bytes:
    return etree.tostring(etree.fromstring(data), method="c14n")


def _e66_from_dso(message_id: str | None = None, seed: int = 0) -> bytes:
    return e66_message(OUR_DSO_GLN, DATAHUB_GLN, [gsrn(1)], DAY, seed=seed, message_id=message_id)


def _scenario(folder: Path) -> tuple[bytes, bytes]:
    folder.mkdir()
    first = e58_message(gsrn(3), datetime(2026, 3, 1, tzinfo=UTC))
    second = e66_message(DATAHUB_GLN, OUR_SUPPLIER_GLN, [gsrn(3)], DAY)
    (folder / "01_e58.xml").write_bytes(first)
    (folder / "02_e66.xml").write_bytes(second)
    (folder / "README.txt").write_text("not a message")
    return first, second


Client = Callable[..., Awaitable[Any]]


@pytest.fixture
async def start(
    aiohttp_server,
) -> AsyncIterator[Callable[..., Awaitable[tuple[DatahubSimulator, Callable[..., DatahubClient]]]]]:
    clients: list[DatahubClient] = []

    async def _start(*faults: str, **sim_options: Any):
        sim = DatahubSimulator(faults=FaultInjector([parse_fault_rule(spec) for spec in faults], seed=1), **sim_options)
        server = await aiohttp_server(create_app(sim))

        def client(gln: str = OUR_SUPPLIER_GLN, **options: Any) -> DatahubClient:
            options.setdefault("retry_wait", wait_none())
            headers = options.pop("headers", {"X-Party-GLN": gln})
            clients.append(DatahubClient(str(server.make_url("/soap/b2b")), headers=headers, **options))
            return clients[-1]

        return sim, client

    yield _start
    for client in clients:
        client.close()


async def call(function: Callable[..., Any], *args: Any) -> Any:
    """zeep is synchronous: run it in a worker thread, as the gateway does."""
    return await asyncio.to_thread(function, *args)


async def test_peek_dequeue_until_empty_in_scenario_order(start, tmp_path):
    sim, client = await start()
    first, second = _scenario(tmp_path / "scenario")
    assert len(sim.load_scenario(tmp_path / "scenario")) == 2
    supplier = client()

    peeked = await call(supplier.peek)
    assert _c14n(peeked.payload) == _c14n(first)
    assert (await call(supplier.peek)).ref == peeked.ref  # peek does not remove
    await call(supplier.dequeue, peeked.ref)
    peeked = await call(supplier.peek)
    assert _c14n(peeked.payload) == _c14n(second)
    await call(supplier.dequeue, peeked.ref)
    assert await call(supplier.peek) is None


async def test_peek_by_domain_reads_the_metering_queue_on_its_own(start, tmp_path):
    sim, client = await start()
    _, metering = _scenario(tmp_path / "scenario")
    sim.load_scenario(tmp_path / "scenario")
    supplier = client()
    peeked = await call(supplier.peek, ["BB02"])
    assert _c14n(peeked.payload) == _c14n(metering)
    await call(supplier.dequeue, peeked.ref)
    assert await call(supplier.peek, ["BB02"]) is None
    assert await call(supplier.peek, ["BB01"]) is not None


async def test_queues_are_per_party(start, tmp_path):
    sim, client = await start()
    _scenario(tmp_path / "scenario")
    sim.load_scenario(tmp_path / "scenario")
    assert await call(client(OUR_DSO_GLN).peek) is None


async def test_send_stores_the_message_and_queues_a_positive_ack_for_the_sender(start):
    sim, client = await start()
    dso = client(OUR_DSO_GLN)
    document = _e66_from_dso(message_id="msg-0001")
    ref = await call(dso.send, document)

    assert 1 <= len(ref) <= 36
    [received] = sim.received
    assert (received.ref, received.sender, received.document_type) == (ref, OUR_DSO_GLN, "E66")
    assert _c14n(received.payload) == _c14n(document)
    peeked = await call(dso.peek)
    acknowledgement = ack.parse(parse_xml(peeked.payload, max_bytes=10**7).getroot())
    assert acknowledgement.header.original_business_document_reference == "msg-0001"
    assert acknowledgement.header.physical_sender == sim.datahub_gln
    assert acknowledgement.header.physical_recipient == OUR_DSO_GLN
    assert acknowledgement.transactions[0].reason_code == "BA01"
    assert sim.queue(OUR_DSO_GLN)[0].domain == "BB06"


async def test_injected_rejection_queues_a_negative_ack(start):
    _sim, client = await start("sendMessage:reject:calls=1")
    dso = client(OUR_DSO_GLN)
    await call(dso.send, _e66_from_dso())
    peeked = await call(dso.peek)
    acknowledgement = ack.parse(parse_xml(peeked.payload, max_bytes=10**7).getroot())
    assert acknowledgement.transactions[0].reason_code == "BA02"
    assert [r.code for r in acknowledgement.transactions[0].event_reasons] == ["SIM.INJECTED"]


async def test_schema_invalid_send_is_a_fault_and_not_retried(start):
    sim, client = await start()
    broken = _e66_from_dso().replace(b"<hdr:DocumentType>E66<", b"<hdr:DocumentType>E66E66<")
    with pytest.raises(DatahubFault) as fault:
        await call(client(OUR_DSO_GLN).send, broken)
    assert fault.value.error_code == "SIM.SCHEMA_INVALID"
    assert fault.value.soap_code == "Sender"
    assert fault.value.details and "DocumentType" in fault.value.details
    assert sim.faults.calls("sendMessage") == 1
    assert sim.received == []


async def test_repeated_message_id_is_refused(start):
    _, client = await start()
    dso = client(OUR_DSO_GLN)
    await call(dso.send, _e66_from_dso(message_id="same-id"))
    with pytest.raises(DatahubFault) as fault:
        await call(dso.send, _e66_from_dso(message_id="same-id", seed=2))
    assert (fault.value.error_code, fault.value.identification) == ("SIM.DUPLICATE_MESSAGE_ID", "same-id")


async def test_caller_must_be_the_physical_sender(start):
    _, client = await start()
    with pytest.raises(DatahubFault) as fault:
        await call(client(OUR_SUPPLIER_GLN).send, _e66_from_dso())
    assert fault.value.error_code == "SIM.SENDER_NOT_AUTHORISED"


async def test_injected_5xx_is_retried_until_it_succeeds(start):
    sim, client = await start("sendMessage:http_5xx:calls=1,2")
    ref = await call(client(OUR_DSO_GLN, retries=3).send, _e66_from_dso())
    assert sim.faults.calls("sendMessage") == 3
    assert [r.ref for r in sim.received] == [ref]


async def test_retries_are_bounded(start):
    sim, client = await start("peekMessage:http_5xx:calls=1,2,3,4")
    with pytest.raises(DatahubTransportError):
        await call(client(retries=3).peek)
    assert sim.faults.calls("peekMessage") == 3


async def test_injected_timeout_is_retried_after_the_client_timeout(start, tmp_path):
    sim, client = await start("peekMessage:timeout:calls=1", timeout_delay=1.0)
    _scenario(tmp_path / "scenario")
    sim.load_scenario(tmp_path / "scenario")
    peeked = await call(client(timeout=0.3, retries=2).peek)
    assert peeked is not None
    assert sim.faults.calls("peekMessage") == 2


async def test_timeout_without_retries_left_is_a_transport_error(start):
    _, client = await start("peekMessage:timeout:calls=1", timeout_delay=1.0)
    with pytest.raises(DatahubTransportError):
        await call(client(timeout=0.3, retries=1).peek)


async def test_duplicate_delivery_gives_the_same_message_under_a_new_reference(start, tmp_path):
    sim, client = await start("peekMessage:duplicate:calls=1")
    first, _ = _scenario(tmp_path / "scenario")
    sim.load_scenario(tmp_path / "scenario")
    supplier = client()
    original = await call(supplier.peek)
    await call(supplier.dequeue, original.ref)
    again = await call(supplier.peek)
    assert again.ref != original.ref
    assert _c14n(again.payload) == _c14n(original.payload) == _c14n(first)
    await call(supplier.dequeue, again.ref)
    assert _c14n((await call(supplier.peek)).payload) != _c14n(first)


async def test_failed_dequeue_leaves_the_message_for_the_next_peek(start, tmp_path):
    sim, client = await start("dequeueMessage:dequeue_fault:calls=1")
    _scenario(tmp_path / "scenario")
    sim.load_scenario(tmp_path / "scenario")
    supplier = client()
    peeked = await call(supplier.peek)
    with pytest.raises(DatahubFault) as fault:
        await call(supplier.dequeue, peeked.ref)
    assert (fault.value.error_code, fault.value.soap_code) == ("SIM.DEQUEUE_FAILED", "Receiver")
    assert sim.faults.calls("dequeueMessage") == 1  # a Fault is never retried
    assert (await call(supplier.peek)).ref == peeked.ref
    await call(supplier.dequeue, peeked.ref)
    assert len(sim.queue(OUR_SUPPLIER_GLN)) == 1


async def test_dequeue_of_an_unknown_reference_is_a_fault(start):
    _, client = await start()
    with pytest.raises(DatahubFault) as fault:
        await call(client().dequeue, "no-such-ref")
    assert fault.value.error_code == "SIM.UNKNOWN_REFERENCE"


async def test_process_message_answers_synchronously(start):
    sim, client = await start()
    answer = await call(client(OUR_DSO_GLN).process, _e66_from_dso(message_id="q-1"))
    acknowledgement = ack.parse(parse_xml(answer, max_bytes=10**7).getroot())
    assert acknowledgement.header.original_business_document_reference == "q-1"
    assert sim.queue(OUR_DSO_GLN) == []  # nothing queued for a synchronous call


async def test_callers_are_identified_by_bearer_token_or_refused(start, tmp_path):
    sim, client = await start(parties={"secret-token": OUR_SUPPLIER_GLN}, allow_gln_header=False)
    _scenario(tmp_path / "scenario")
    sim.load_scenario(tmp_path / "scenario")
    assert await call(client(headers={"Authorization": "Bearer secret-token"}).peek) is not None
    with pytest.raises(DatahubFault) as unknown:
        await call(client(headers={"Authorization": "Bearer wrong"}).peek)
    assert unknown.value.error_code == "SIM.UNKNOWN_PARTY"
    with pytest.raises(DatahubFault):
        await call(client(OUR_SUPPLIER_GLN).peek)  # the sandbox header is switched off


async def test_wsdl_is_served_with_the_simulators_own_address(aiohttp_client):
    http = await aiohttp_client(create_app(DatahubSimulator()))
    response = await http.get("/soap/b2b?wsdl")
    assert response.status == 200
    wsdl = etree.fromstring(await response.read())
    [address] = wsdl.iter("{http://schemas.xmlsoap.org/wsdl/soap12/}address")
    assert address.get("location") == str(http.make_url("/soap/b2b"))


async def test_garbage_request_gets_a_soap_fault(aiohttp_client):
    http = await aiohttp_client(create_app(DatahubSimulator()))
    response = await http.post("/", data=b"<not-soap/>", headers={"X-Party-GLN": OUR_SUPPLIER_GLN})
    assert response.status == 400
    body = etree.fromstring(await response.read())
    assert body.findtext(".//{urn:cms:b2b:v01}ErrorCode") == "SOAP.NOT_AN_ENVELOPE"


async def test_run_simulator_serves_a_scenario_until_cancelled(tmp_path):
    _scenario(tmp_path / "scenario")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = asyncio.Event()
    task = asyncio.create_task(
        run_simulator("127.0.0.1", port, [tmp_path / "scenario"], {"t": OUR_SUPPLIER_GLN}, [], started=started)
    )
    await asyncio.wait_for(started.wait(), 10)
    with DatahubClient(f"http://127.0.0.1:{port}/", headers={"Authorization": "Bearer t"}) as client:
        assert (await call(client.peek)) is not None
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/?wsdl") as response:
        assert response.status == 200
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_cli_arguments_are_parsed_and_bad_ones_refused():
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    args = parser.parse_args(["--port", "0", "--fault", "peekMessage:nonsense"])
    assert main(args) == 2
    args = parser.parse_args(["--party", "no-equals-sign"])
    assert main(args) == 2
    args = parser.parse_args(["--fault", "dequeueMessage:dequeue_fault:p=0.5", "--party", "t=6430000000023"])
    assert args.fault == ["dequeueMessage:dequeue_fault:p=0.5"] and args.party == ["t=6430000000023"]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _issue_certificates(folder: Path) -> None:
    """A throw-away CA, a server certificate for 127.0.0.1 and a client certificate for our DSO."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=Test CA",
        cwd=folder,
    )
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=gateway-dso")):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=folder)
        extra = ["-extfile", "server.ext"] if name == "server" else []
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "2",
            *extra,
            cwd=folder,
        )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to issue test certificates")
async def test_https_with_client_certificate_identifies_the_party(tmp_path):
    _issue_certificates(tmp_path)
    context = server_ssl_context(tmp_path / "server.crt", tmp_path / "server.key", tmp_path / "ca.crt")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = asyncio.Event()
    task = asyncio.create_task(
        run_simulator(
            "127.0.0.1",
            port,
            cert_parties={"gateway-dso": OUR_DSO_GLN},
            ssl_context=context,
            allow_gln_header=False,
            started=started,
        )
    )
    try:
        await asyncio.wait_for(started.wait(), 10)
        endpoint = f"https://127.0.0.1:{port}/"
        ca = str(tmp_path / "ca.crt")
        cert = (str(tmp_path / "client.crt"), str(tmp_path / "client.key"))
        with DatahubClient(endpoint, cert=cert, verify=ca, retries=1) as dso:
            await call(dso.send, _e66_from_dso())
            peeked = await call(dso.peek)  # the ACK went to the party named by the certificate
        assert b"AcknowledgementMessage" in peeked.payload
        with DatahubClient(endpoint, verify=ca, retries=1) as anonymous, pytest.raises(DatahubTransportError):
            await call(anonymous.peek)  # no client certificate
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
