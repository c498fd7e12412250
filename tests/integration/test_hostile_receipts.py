"""What an attacker or a careless sender hits at both doors, `gateway ingest` and our SOAP endpoint: error floods
(capped, refused before the XSD step when structurally absurd, within 400 MB for the whole ingest process), one
message per envelope, the archive holding the bytes exactly as sent, and the hostile corpus."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.app import create_app
from gateway.cli import main
from gateway.config import Settings
from gateway.receive import CHANNEL_DATAHUB, MAX_ERRORS, Receiver
from gateway.soap import envelope
from gateway.store.tables import MessageRecord, RawMessage
from gateway.xml.hardened import MAX_ATTRIBUTES
from mappings import samples
from tests.support.pipeline import HOSTILE, fixture, register_parties

ROOT = Path(__file__).resolve().parents[2]
DSO = samples.OUR_DSO_GLN
SOAP_HEADERS = {"Authorization": "Bearer dso-token", "Content-Type": envelope.SOAP12_CONTENT_TYPE}
PEAK_LIMIT_MB = 400


def _e66(seed: int = 0) -> bytes:
    return samples.e66_message(DSO, samples.OUR_SUPPLIER_GLN, [samples.gsrn(1)], date(2026, 1, 15), seed=seed)


def _message_id(document: bytes) -> str:
    found = re.search(rb"<hdr:Identification>([^<]*)<", document)
    assert found is not None
    return found.group(1).decode()


def attribute_flood(attributes: int = 800_000) -> bytes:
    """An E66 whose root carries `attributes` attributes: 9.5 MB for 800,000, within the size limit."""
    document = _e66()
    end_of_root_tag = document.index(b">", document.index(b"<rsm:"))
    return document[:end_of_root_tag] + b"".join(b' a%d="x"' % n for n in range(attributes)) + \
        document[end_of_root_tag:]


def value_flood(observations: int) -> bytes:
    """An E66 with `observations` more observations, each with an invalid quantity, one per line."""
    document = _e66(seed=3)
    first = re.search(rb"<elm:OBS>.*?</elm:OBS>", document, re.DOTALL)
    assert first is not None
    bad = first.group(0).replace(b"<elm:QTY>", b"<elm:QTY>x") + b"\n"
    return document[:first.start()] + b"\n" + bad * observations + document[first.start():]


def _lines_of(document: bytes, needle: bytes, count: int) -> list[int]:
    lines, position = [], 0
    while len(lines) < count and (position := document.find(needle, position) + 1) > 0:
        lines.append(document.count(b"\n", 0, position) + 1)
    return lines


@pytest.fixture
def migrated(database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             engine: Engine) -> str:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    register_parties(engine)
    for n in (1, 2, 3):
        Receiver(engine).receive(fixture(f"e58-accounting-point-{n}.xml"), authenticated_gln=samples.DATAHUB_GLN,
                                 channel=CHANNEL_DATAHUB)
    capsys.readouterr()
    return database_url


def _ingest(capsys: pytest.CaptureFixture[str], *files: Path) -> tuple[int, list[dict[str, Any]], str]:
    code = main(["ingest", "--sender", DSO, *map(str, files)])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.startswith("{")], err


def _registry(engine: Engine) -> list[MessageRecord]:
    with Session(engine) as s:
        return list(s.execute(select(MessageRecord).order_by(col(MessageRecord.id))).scalars())


def _archive_is_registered(engine: Engine) -> bool:
    """Every archived body belongs to a registry entry."""
    with Session(engine) as s:
        raw = set(s.execute(select(col(RawMessage.id))).scalars())
        registered = set(s.execute(select(col(MessageRecord.raw_id))).scalars())
    return raw == registered


# -- error floods: the CLI -----------------------------------------------------------------------------------
_LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as peak:
    peak.write(str(usage.ru_maxrss))  # kB on Linux
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_an_attribute_flood_is_refused_before_the_xsd_step_and_ingest_stays_under_400_mb(
    migrated: str, engine: Engine, tmp_path: Path
) -> None:
    flood = tmp_path / "flood.xml"
    flood.write_bytes(attribute_flood())
    assert 9_000_000 < flood.stat().st_size < 10_000_000
    env = {**os.environ, "GATEWAY_DATABASE_URL": migrated, "PYTHONPATH": str(ROOT)}
    peak_file = tmp_path / "peak"
    # Through a small launcher: a child's peak resident set (ru_maxrss) includes that of the process it was forked
    # from, here the launcher's few megabytes rather than this test process's.
    ingest = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, str(peak_file), sys.executable, "-m", "gateway.cli", "ingest", "--sender",
         DSO, str(flood)], cwd=ROOT, env=env, capture_output=True, timeout=600)
    out, err = ingest.stdout, ingest.stderr
    peak_mb = int(peak_file.read_text()) / 1024
    assert ingest.returncode == 2, err
    assert b"Traceback" not in err and len(out) < 5_000, "one short line, whatever the flood"
    (line,) = [json.loads(x) for x in out.splitlines()]
    assert line["result"] == "rejected" and line["error_count"] == 1
    (error,) = line["errors"]
    assert error["code"] == "XML.LIMIT_EXCEEDED" and (error["line"], error["column"]) == (2, 1)
    assert f"more than {MAX_ATTRIBUTES} attributes" in error["text"] and "800,004 '='" in error["text"]
    assert peak_mb < PEAK_LIMIT_MB, f"gateway ingest peaked at {peak_mb:.0f} MB"
    (record,) = [r for r in _registry(engine) if r.status == "rejected"]
    assert record.errors is not None and len(record.errors) == 1 and _archive_is_registered(engine)


def test_a_flood_of_invalid_values_keeps_the_first_errors_with_their_lines_and_the_count(
    migrated: str, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = value_flood(20_000)
    flood = tmp_path / "values.xml"
    flood.write_bytes(document)
    code, lines, err = _ingest(capsys, flood)
    assert code == 2 and "Traceback" not in err
    (line,) = lines
    assert line["result"] == "rejected" and line["error_count"] == 20_000
    assert len(line["errors"]) == MAX_ERRORS
    assert all(e["code"].startswith("XSD.") for e in line["errors"])
    assert [e["line"] for e in line["errors"]] == _lines_of(document, b"<elm:QTY>x", MAX_ERRORS), \
        "each error points at its own line in the file"
    (record,) = [r for r in _registry(engine) if r.status == "rejected"]
    assert record.error_count == 20_000 and len(record.errors or []) == MAX_ERRORS

    code, (again,), _ = _ingest(capsys, flood)
    assert (again["result"], again["error_count"], again["errors"]) == ("rejected", 20_000, line["errors"]), \
        "a resend is refused again with the same capped list"


# -- one message per envelope ---------------------------------------------------------------------------------
def _two_messages(shape: str) -> bytes:
    first, second = _e66(seed=11), _e66(seed=12)
    request = envelope.send_message_request(first)
    root = etree.fromstring(request)
    body = root.find(f"{{{envelope.SOAP12_NS}}}Body")
    assert body is not None
    container = body[0][0]
    if shape == "two bodies":
        extra = etree.fromstring(envelope.send_message_request(second)).find(f"{{{envelope.SOAP12_NS}}}Body")
        assert extra is not None
        root.append(extra)
    elif shape == "two containers":
        container.addnext(etree.fromstring(envelope.send_message_request(second))[0][0][0])
    else:
        container[0].append(etree.fromstring(second))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


SHAPES = [("two bodies", envelope.SOAP_INVALID_ENVELOPE), ("two containers", envelope.SOAP_MORE_THAN_ONE_MESSAGE),
          ("two documents", envelope.SOAP_MORE_THAN_ONE_MESSAGE)]


@pytest.mark.parametrize(("shape", "code"), SHAPES, ids=[s for s, _ in SHAPES])
def test_ingest_refuses_an_envelope_with_more_than_one_message(
    migrated: str, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str], shape: str, code: str
) -> None:
    path = tmp_path / "two.xml"
    path.write_bytes(_two_messages(shape))
    status, (line,), err = _ingest(capsys, path)
    assert status == 2 and "Traceback" not in err
    assert line["result"] == "rejected" and line["errors"][0]["code"] == code
    ids = {_message_id(_e66(seed=11)), _message_id(_e66(seed=12))}
    assert not {r.message_id for r in _registry(engine)} & ids, "neither message was taken"
    assert all(r.document_type == "E58" or r.status == "rejected" for r in _registry(engine))


# -- the archive holds the bytes that were sent ---------------------------------------------------------------
def test_ingest_archives_an_envelope_file_exactly_with_the_offset_of_its_payload(
    migrated: str, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = _pretty_request(_e66(seed=21))
    path = tmp_path / "wrapped.xml"
    path.write_bytes(request)
    status, (line,), _ = _ingest(capsys, path)
    assert status == 0 and line["result"] == "accepted"
    with Session(engine) as s:
        record = s.execute(
            select(MessageRecord).where(col(MessageRecord.message_id) == line["message_id"])).scalar_one()
        raw = s.get(RawMessage, record.raw_id)
    assert raw is not None and zlib.decompress(raw.body) == request
    assert raw.sha256 == record.sha256 == hashlib.sha256(request).hexdigest()
    assert raw.payload_offset is not None and request[raw.payload_offset:].startswith(b"<rsm:EnergyTimeSeriesMessage")


def _pretty_request(document: bytes, *, header: bool = True) -> bytes:
    """A send request as a person might write it: indented, a comment and a header block before the payload."""
    payload = document.split(b"?>", 1)[1].strip()
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:b2b="urn:cms:b2b:v01">\n'
            + (b'  <env:Header>\n    <x:Trace xmlns:x="urn:example:trace">a &lt;b&gt; "c"</x:Trace>\n'
               b'  </env:Header>\n' if header else b"")
            + b'  <env:Body>\n    <b2b:SendMessageRequest>\n      <b2b:MessageContainer>\n'
            b'        <!-- <b2b:Payload> in a comment is not the payload -->\n'
            b'        <b2b:Payload>\n' + payload + b'\n        </b2b:Payload>\n'
            b'      </b2b:MessageContainer>\n    </b2b:SendMessageRequest>\n  </env:Body>\n</env:Envelope>\n')


# -- the hostile corpus through the CLI ------------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted(HOSTILE.iterdir()), ids=lambda p: p.name)
def test_hostile_files_are_refused_by_ingest_with_a_clear_error(
    migrated: str, engine: Engine, capsys: pytest.CaptureFixture[str], path: Path
) -> None:
    status, (line,), err = _ingest(capsys, path)
    assert status == 2 and "Traceback" not in err
    assert line["result"] == "rejected" and line["errors"][0]["code"].startswith(("XML.", "SCH.", "XSD.")), line
    assert [r.document_type for r in _registry(engine) if r.status == "accepted"] == ["E58"] * 3


# -- our SOAP endpoint ----------------------------------------------------------------------------------------
@pytest.fixture
async def server(aiohttp_server: Any, migrated: str, engine: Engine) -> AsyncIterator[Any]:
    yield await aiohttp_server(create_app(Settings(database_url=migrated), engine))


async def _post(server: Any, body: bytes) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http:
        response = await http.post(server.make_url("/soap/b2b"), data=body, headers=SOAP_HEADERS)
        return response.status, await response.read()


def _fault(answer: bytes) -> dict[str, str | None]:
    cms = etree.fromstring(answer).find(f".//{{{envelope.B2B_NS}}}CMSFault")
    assert cms is not None, answer[:500]
    return {etree.QName(child).localname: child.text for child in cms}


async def test_the_endpoint_archives_the_request_exactly_and_faults_point_into_the_senders_bytes(
    server: Any, engine: Engine
) -> None:
    request = _pretty_request(_e66(seed=31))
    status, _ = await _post(server, request)
    assert status == 200
    (record,) = [r for r in _registry(engine) if r.message_id == _message_id(request)]
    with Session(engine) as s:
        raw = s.get(RawMessage, record.raw_id)
    assert raw is not None and zlib.decompress(raw.body) == request
    assert raw.sha256 == record.sha256 == hashlib.sha256(request).hexdigest()
    assert raw.payload_offset is not None and request[raw.payload_offset:].startswith(b"<rsm:EnergyTimeSeriesMessage")

    invalid = _pretty_request(_e66(seed=32).replace(b"<elm:QTY>", b"<elm:QTY>-", 1), header=False)
    status, answer = await _post(server, invalid)
    fault = _fault(answer)
    assert status == 400 and (fault["ErrorCode"] or "").startswith("XSD.")
    where = _lines_of(invalid, b"<elm:QTY>-", 1)[0]
    assert re.match(rf"line {where}\b", fault["ErrorDetails"] or ""), "the line in the request as sent"


async def test_a_resend_with_the_same_id_and_other_content_is_refused_and_every_archived_byte_is_registered(
    server: Any, engine: Engine
) -> None:
    original = _e66(seed=41)
    assert (await _post(server, envelope.send_message_request(original)))[0] == 200
    tampered = original.replace(b"<elm:QTY>", b"<elm:QTY>1", 1)
    status, answer = await _post(server, envelope.send_message_request(tampered))
    assert status == 400 and _fault(answer)["ErrorCode"] == "PRC.DUPLICATE_MESSAGE_ID"
    assert _archive_is_registered(engine)
    refused = [r for r in _registry(engine) if r.reason_code == "PRC.DUPLICATE_MESSAGE_ID"]
    assert len(refused) == 1 and refused[0].message_id is None, "the id stays the first message's"
    # The same document again, wrapped differently, is still the original: a duplicate, not a refusal.
    assert (await _post(server, _pretty_request(original)))[0] == 200
    assert _archive_is_registered(engine)


async def test_floods_on_the_endpoint_are_faults_with_the_same_capped_list(server: Any, engine: Engine) -> None:
    status, answer = await _post(server, _pretty_request(attribute_flood()))
    assert status == 400 and _fault(answer)["ErrorCode"] == "XML.LIMIT_EXCEEDED" and len(answer) < 5_000

    status, answer = await _post(server, _pretty_request(value_flood(5_000)))
    fault = _fault(answer)
    assert status == 400 and (fault["ErrorCode"] or "").startswith("XSD.")
    details = fault["ErrorDetails"] or ""
    assert len(re.findall(r"line \d+: ", details)) == MAX_ERRORS
    assert "(5,000 errors in all; the first 100 are listed)" in details
    (record,) = [r for r in _registry(engine) if r.error_count == 5_000]
    assert len(record.errors or []) == MAX_ERRORS


@pytest.mark.parametrize(("shape", "code"), SHAPES, ids=[s for s, _ in SHAPES])
async def test_the_endpoint_refuses_an_envelope_with_more_than_one_message(
    server: Any, engine: Engine, shape: str, code: str
) -> None:
    before = len(_registry(engine))
    status, answer = await _post(server, _two_messages(shape))
    assert status == 400 and _fault(answer)["ErrorCode"] == code
    assert len(_registry(engine)) == before, "nothing stored"


async def test_hostile_bodies_on_the_endpoint_are_faults_that_store_nothing(server: Any, engine: Engine) -> None:
    before = len(_registry(engine))
    for path in sorted(HOSTILE.iterdir()):
        status, answer = await _post(server, path.read_bytes())
        assert 400 <= status < 500, path.name
        assert (_fault(answer)["ErrorCode"] or "").startswith(("XML.", "SOAP.")), path.name
    assert len(_registry(engine)) == before
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(RawMessage)).scalar_one() == before
