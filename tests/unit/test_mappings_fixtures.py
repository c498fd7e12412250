"""Every Datahub fixture behaves as its name says.

- valid fixtures: XSD-valid, parse, pass the event checks, and round-trip (parse → build → XSD-valid →
  parse gives an equal message);
- `invalid-schema-*`: the XSD rejects them;
- `invalid-event-*`: XSD-valid, parse, and fail the event check with the code their leading comment names.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from gateway.validation import check_message, is_ordering_error, known_in
from mappings.registry import build_document, mapping_for, parse_document
from mappings.samples import gsrn

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "datahub"
ALL = sorted(p.name for p in FIXTURES.glob("*.xml"))
VALID = [n for n in ALL if not n.startswith("invalid-")]
SCHEMA_INVALID = [n for n in ALL if n.startswith("invalid-schema-")]
EVENT_INVALID = [n for n in ALL if n.startswith("invalid-event-")]

# The accounting points of the E58 fixtures and of the 50-series bundle (gsrn(1..50)); gsrn(999) is unknown.
KNOWN_POINTS = known_in({gsrn(i) for i in range(1, 51)})


@cache
def schema_for(xsd_path: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(xsd_path)))


def load(name: str) -> etree._Element:
    return etree.parse(str(FIXTURES / name)).getroot()


def is_schema_valid(root: etree._Element) -> bool:
    return schema_for(mapping_for(root).xsd_path).validate(root)


def test_there_are_valid_and_invalid_fixtures_for_every_inbound_type() -> None:
    for prefix in ("e66", "e58", "f01", "f04", "f06", "ack"):
        assert any(n.startswith(prefix) for n in VALID), prefix
        assert any(n.startswith(f"invalid-schema-{prefix}") for n in SCHEMA_INVALID), prefix
        assert any(n.startswith(f"invalid-event-{prefix}") for n in EVENT_INVALID), prefix


@pytest.mark.parametrize("name", VALID)
def test_valid_fixture_is_schema_valid_and_round_trips(name: str) -> None:
    root = load(name)
    assert is_schema_valid(root), schema_for(mapping_for(root).xsd_path).error_log
    message = parse_document(root)

    rebuilt = build_document(message)
    assert rebuilt.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert b"schemaLocation" not in rebuilt
    rebuilt_root = etree.fromstring(rebuilt)
    assert is_schema_valid(rebuilt_root), schema_for(mapping_for(rebuilt_root).xsd_path).error_log
    assert parse_document(rebuilt_root) == message


@pytest.mark.parametrize("name", VALID)
def test_valid_fixture_passes_the_event_checks(name: str) -> None:
    result = check_message(parse_document(load(name)), KNOWN_POINTS)
    assert result.errors == ()
    assert result.reason_code == "BA01"


@pytest.mark.parametrize("name", SCHEMA_INVALID)
def test_schema_invalid_fixture_fails_xsd(name: str) -> None:
    root = load(name)
    assert not is_schema_valid(root)


def expected_event_code(name: str) -> str:
    match = re.search(rb"<!-- expected-event-error: (\S+)", (FIXTURES / name).read_bytes())
    assert match, f"{name} does not declare its expected error"
    return match.group(1).decode()


@pytest.mark.parametrize("name", EVENT_INVALID)
def test_event_invalid_fixture_passes_xsd_and_fails_with_the_declared_code(name: str) -> None:
    root = load(name)
    assert is_schema_valid(root), schema_for(mapping_for(root).xsd_path).error_log
    result = check_message(parse_document(root), KNOWN_POINTS)
    codes = {e.code for e in result.errors}
    assert expected_event_code(name) in codes
    assert result.reason_code == "BA02"


def test_unknown_accounting_point_is_an_ordering_error_only() -> None:
    result = check_message(parse_document(load("invalid-event-e66-unknown-accounting-point.xml")), KNOWN_POINTS)
    assert [e.code for e in result.errors] == ["EC.MPT.115"]
    assert result.only_ordering_errors
    assert all(is_ordering_error(e) for e in result.errors)


def test_without_a_lookup_the_unknown_accounting_point_passes() -> None:
    result = check_message(parse_document(load("invalid-event-e66-unknown-accounting-point.xml")))
    assert result.ok
