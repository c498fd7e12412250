"""The HTTP service's doors: the WSDL's address, oversized and mistyped requests, the access log, the service on a
database that is not ready, and what the long-running commands say when they start."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.app import create_app
from gateway.config import Settings
from gateway.receive import CHANNEL_DATAHUB, Receiver
from gateway.soap import envelope
from gateway.store.tables import MessageRecord, RawMessage
from mappings import samples
from tests.support.databases import migrated_engine
from tests.support.pipeline import fixture, register_parties

ROOT = Path(__file__).resolve().parents[2]
SOAP12 = {"Content-Type": "application/soap+xml; charset=utf-8"}
DSO = {"Authorization": "Bearer dso-token"}
LIMIT = 100_000  # max_message_bytes in these tests; the body limit adds 64 KiB for the envelope


@pytest.fixture
async def service(aiohttp_server: Any, engine: Engine, database_url: str) -> AsyncIterator[Any]:
    register_parties(engine)
    receiver = Receiver(engine)
    for n in (1, 2, 3):  # the accounting points of the metering fixtures
        receiver.receive(fixture(f"e58-accounting-point-{n}.xml"), authenticated_gln=samples.DATAHUB_GLN,
                         channel=CHANNEL_DATAHUB)
    server = await aiohttp_server(create_app(Settings(database_url=database_url, max_message_bytes=LIMIT), engine))
    async with aiohttp.ClientSession() as http:
        yield server, http


def _stored(engine: Engine) -> tuple[int, int]:
    """(registry rows, raw archive rows) beyond the three E58s of the fixture."""
    with Session(engine) as s:
        return (s.execute(select(func.count()).select_from(MessageRecord)).scalar_one() - 3,
                s.execute(select(func.count()).select_from(RawMessage)).scalar_one() - 3)


def _fault_code(body: bytes) -> str:
    root = etree.fromstring(body)
    return str(root.findtext(".//{*}ErrorCode"))


def _wsdl_address(body: bytes) -> str:
    root = etree.fromstring(body)
    return str(root.find(".//{http://schemas.xmlsoap.org/wsdl/soap12/}address").get("location"))  # type: ignore[union-attr]


async def test_a_forged_host_header_does_not_move_the_wsdl_address(service: Any) -> None:
    server, http = service
    response = await http.get(server.make_url("/soap/b2b?wsdl"), headers={"Host": "attacker.example:443"})
    assert response.status == 200
    address = _wsdl_address(await response.read())
    assert address == f"http://127.0.0.1:{server.port}/soap/b2b"


async def test_the_wsdl_names_the_configured_public_url(aiohttp_server: Any, engine: Engine,
                                                        database_url: str) -> None:
    settings = Settings(database_url=database_url, public_url="https://gateway.example.fi/datahub")
    server = await aiohttp_server(create_app(settings, engine))
    async with aiohttp.ClientSession() as http:
        response = await http.get(server.make_url("/soap/b2b?wsdl"), headers={"Host": "attacker.example"})
        assert _wsdl_address(await response.read()) == "https://gateway.example.fi/datahub/soap/b2b"


async def test_a_body_over_the_limit_is_a_soap_fault_with_its_size(service: Any, engine: Engine) -> None:
    server, http = service
    limit = LIMIT + 64 * 1024
    body = envelope.send_message_request(b"<x>" + b" " * (limit + 10) + b"</x>")
    response = await http.post(server.make_url("/soap/b2b"), data=body, headers={**SOAP12, **DSO})
    text = await response.read()
    assert response.status == 413 and response.content_type == "application/soap+xml"
    assert _fault_code(text) == "HTTP.BODY_TOO_LARGE"
    assert f"the request body is {len(body):,} bytes".replace(",", " ").encode() in text

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: refused once it passes the limit
        for i in range(0, len(body), 8192):
            yield body[i:i + 8192]

    response = await http.post(server.make_url("/soap/b2b"), data=chunks(), headers={**SOAP12, **DSO})
    assert response.status == 413 and _fault_code(await response.read()) == "HTTP.BODY_TOO_LARGE"
    assert await asyncio.to_thread(_stored, engine) == (0, 0)


@pytest.mark.parametrize("content_type", ["application/json", "application/octet-stream", "text/plain", None])
async def test_a_body_that_is_not_soap_by_its_media_type_is_a_fault(service: Any, engine: Engine,
                                                                    content_type: str | None) -> None:
    server, http = service
    headers = dict(DSO) if content_type is None else {**DSO, "Content-Type": content_type}
    body = envelope.send_message_request(fixture("e66-pt1h-day.xml"))
    response = await http.post(server.make_url("/soap/b2b"), data=body, headers=headers,
                               skip_auto_headers=["Content-Type"])
    assert response.status == 415 and _fault_code(await response.read()) == "HTTP.UNSUPPORTED_MEDIA_TYPE"
    assert await asyncio.to_thread(_stored, engine) == (0, 0)


async def test_soap_media_types_pass_and_a_soap11_envelope_gets_version_mismatch(service: Any) -> None:
    server, http = service
    soap11 = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>')
    response = await http.post(server.make_url("/soap/b2b"), data=soap11,
                               headers={**DSO, "Content-Type": "text/xml; charset=utf-8"})
    assert _fault_code(await response.read()) == "SOAP.VERSION_MISMATCH"
    response = await http.post(server.make_url("/soap/b2b"), data=envelope.send_message_request(
        fixture("e66-pt1h-day.xml")), headers={**DSO, "Content-Type": 'application/soap+xml;charset=UTF-8;action=""'})
    assert response.status == 200


async def test_one_access_line_per_request_without_payload_or_credentials(
    service: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server, http = service
    caplog.set_level(logging.INFO, logger="gateway.access")
    document = fixture("e66-winter-day-pt15m.xml")
    accepted = await http.post(server.make_url("/soap/b2b"), data=envelope.send_message_request(document),
                               headers={**SOAP12, **DSO})
    assert accepted.status == 200
    invalid = await http.post(server.make_url("/soap/b2b"), data=envelope.send_message_request(
        fixture("invalid-schema-e66-negative-qty.xml")), headers={**SOAP12, **DSO})
    assert invalid.status == 400
    unknown = await http.post(server.make_url("/soap/b2b?token=secret"), data=b"<x/>",
                              headers={**SOAP12, "Authorization": "Bearer nobody"})
    assert unknown.status == 401
    assert (await http.get(server.make_url("/health"))).status == 200

    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.access"]
    assert len(lines) == 4, lines
    sent, refused, stranger, health = lines
    message_id = etree.fromstring(document).findtext(".//{*}Identification")
    assert sent.startswith("POST /soap/b2b 200 party=6430000000030 operation=sendMessage") and sent.endswith(" ms")
    assert f"message_id={message_id}" in sent and "result=accepted" in sent
    # (the invalid fixture reuses the valid one's message id: refused as a repeated id with other content)
    assert refused.startswith("POST /soap/b2b 400 party=6430000000030") and "result=PRC.DUPLICATE_MESSAGE_ID" in refused
    assert stranger.startswith("POST /soap/b2b 401 result=AUTH.UNKNOWN_PARTY") and "party=" not in stranger
    assert health.startswith("GET /health 200 ")
    text = "\n".join(lines)
    for secret in ("dso-token", "nobody", "secret", "643", "<", "QTY"):  # credentials, query, payload, GSRNs
        assert secret not in text.replace("party=6430000000030", ""), secret


async def test_health_and_metrics_answer_503_with_the_reason_before_migrations(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await aiohttp_client(create_app(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}")))
    health = await client.get("/health")
    assert health.status == 503 and (await health.json())["status"] == "migrations pending"
    metrics = await client.get("/metrics")
    assert metrics.status == 503
    assert "no revision, this version needs" in await metrics.text() and "gateway migrate" in await metrics.text()

    unreachable = create_app(Settings(database_url="postgresql+psycopg://gateway@127.0.0.1:1/gateway"))
    client = await aiohttp_client(unreachable)
    for path in ("/health", "/metrics"):
        response = await client.get(path)
        assert response.status == 503 and "Connection refused" in await response.text()


# --- the long-running commands say that they started ---------------------------------------------------------

def _start(argv: list[str], database_url: str, cwd: Path) -> tuple[subprocess.Popen[str], Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(PYTHONPATH=str(ROOT), GATEWAY_DATABASE_URL=database_url)
    log = cwd / f"{argv[0]}.log"
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", *argv], cwd=cwd, env=env, text=True,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    return proc, log


def _wait_for(log: Path, proc: subprocess.Popen[str], text: str, limit: float = 120) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        output = log.read_text()
        if text in output:
            return output
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{text!r} not seen: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.mark.sqlite
def test_serve_prints_where_it_listens_and_logs_each_request(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    migrated_engine(url).dispose()
    proc, log = _start(["serve", "--port", "0"], url, tmp_path)
    output = _wait_for(log, proc, "gateway serve: listening on http://127.0.0.1:")
    port = int(output.split("listening on http://127.0.0.1:")[1].split()[0])
    assert f"its WSDL names http://127.0.0.1:{port}/soap/b2b" in output
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=60) as response:
        assert response.status == 200
    output = _wait_for(log, proc, "gateway.access: GET /health 200")
    assert _stop(proc) == 0
    assert "Traceback" not in log.read_text()


@pytest.mark.sqlite
def test_worker_and_simulator_say_that_they_started(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    migrated_engine(url).dispose()
    worker, worker_log = _start(["worker"], url, tmp_path)
    sim, sim_log = _start(["datahub-sim", "--port", "0"], url, tmp_path)
    said = _wait_for(worker_log, worker, " started: topics ")
    assert "stop with Ctrl-C or SIGTERM" in said
    said = _wait_for(sim_log, sim, "Datahub simulator started: listening on http://127.0.0.1:")
    assert "?wsdl" in said
    assert _stop(worker) == 0
    assert _stop(sim) == 0
    assert "Traceback" not in worker_log.read_text() + sim_log.read_text()
