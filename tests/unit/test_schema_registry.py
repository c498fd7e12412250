"""The schema registry picks the XSD by the root namespace and reports every error with its line."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from gateway.xml.hardened import XmlInputError, parse_xml
from gateway.xml.schemas import (
    STREAM_FROM,
    SchemaRegistry,
    UnknownSchemaError,
    default_registry,
    parse_and_validate,
    validate,
)
from mappings.samples import DATAHUB_GLN, OUR_DSO_GLN, e66_message, gsrn

REPO = Path(__file__).resolve().parents[2]
PRICES = REPO / "tests" / "fixtures" / "prices"
DATAHUB_INSTANCE = REPO / "schemas" / "datahub-2.3.4.0" / "query" / "instance1.xml"
E66_NS = "urn:fi:Datahub:mif:metering:E66_EnergyTimeSeries:v1"
LIMIT = 10_000_000


def _valid_e66() -> bytes:
    return e66_message(OUR_DSO_GLN, DATAHUB_GLN, [gsrn(1), gsrn(2)], date(2026, 3, 29))


def test_every_datahub_message_schema_is_registered_and_compiles():
    registry = SchemaRegistry.default()
    registry.preload()
    datahub = [e for e in registry.entries() if e.family == "datahub-2.3.4.0"]
    codes = {e.namespace.split(":")[5].split("_")[0] for e in datahub}
    assert {"E66", "E58", "F01", "F04", "F06", "F03", "F21", "F08", "ACK"} <= codes
    assert len(datahub) == 32  # ACK + 2 invoicing + 15 master data + 8 metering + 6 query
    assert all(e.version == "2.3.4.0" for e in datahub)
    assert all(e.compiled_count == 1 for e in registry.entries())


def test_valid_e66_validates_without_issues():
    tree, issues = parse_and_validate(_valid_e66(), LIMIT)
    assert issues == []
    assert etree.QName(tree.getroot()).namespace == E66_NS


def test_every_error_is_collected_with_its_line():
    tree = parse_xml(_valid_e66(), max_bytes=LIMIT)
    root = tree.getroot()
    hdr = "urn:fi:Datahub:mif:common:HDR_Header:elements:v1"
    creation = root.find(f".//{{{hdr}}}Creation")
    assert creation is not None
    creation.text = "yesterday"
    quantities = [el for el in root.iter() if etree.QName(el).localname == "QTY"]
    quantities[0].text = "lots"
    quantities[5].text = "-"
    # Re-parse so the reported lines are real source lines.
    reparsed = parse_xml(etree.tostring(tree, pretty_print=True), max_bytes=LIMIT)
    issues = validate(reparsed)
    assert len(issues) >= 3
    assert all(issue.code.startswith("XSD.SCHEMAV_") for issue in issues)
    assert all(issue.line > 1 for issue in issues)
    assert any("Creation" in issue.text for issue in issues)
    assert sum("QTY" in issue.text for issue in issues) >= 2
    assert len({issue.line for issue in issues}) == len(issues)


def test_fingrids_own_sample_instance_is_checked_against_the_f17_schema():
    issues = validate(parse_xml(DATAHUB_INSTANCE.read_bytes(), max_bytes=LIMIT))
    # The sample predates the schema copy: a timestamp without zone and MessageNumber (commented out).
    assert [issue.line for issue in issues] == [13, 28]


@pytest.mark.parametrize(
    ("fixture", "family"),
    [("day_ahead_prices_fi.xml", "entsoe-publication-7.3"), ("entsoesample.xml", "entsoe-publication-7.0")],
)
def test_entsoe_publications_are_picked_by_namespace_version(fixture: str, family: str):
    tree, issues = parse_and_validate((PRICES / fixture).read_bytes(), LIMIT)
    assert issues == []
    assert default_registry().entry_for_root(tree.getroot()).family == family


def test_finvoice_is_identified_by_its_root_name_without_namespace():
    tree = parse_xml(b'<Finvoice Version="3.0"/>', max_bytes=LIMIT)
    assert default_registry().entry_for_root(tree.getroot()).family == "finvoice-3.0"
    issues = validate(tree)
    assert issues and "SellerPartyDetails" in issues[0].text


def test_camt054_is_registered():
    ns = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"
    tree = parse_xml(f'<Document xmlns="{ns}"><BkToCstmrDbtCdtNtfctn/></Document>'.encode(), max_bytes=LIMIT)
    assert default_registry().entry_for_root(tree.getroot()).family == "camt.054.001.02"
    assert validate(tree)  # GrpHdr and Ntfctn are missing


def test_unknown_namespace_is_a_clear_error_not_a_crash():
    with pytest.raises(UnknownSchemaError, match=r"\{urn:example:nope\}Message"):
        validate(parse_xml(b'<m:Message xmlns:m="urn:example:nope"/>', max_bytes=LIMIT))
    with pytest.raises(UnknownSchemaError, match="Invoice"):
        validate(parse_xml(b"<Invoice/>", max_bytes=LIMIT))


def test_known_namespace_with_a_foreign_root_is_a_validation_issue():
    issues = validate(parse_xml(f'<x:Bogus xmlns:x="{E66_NS}"/>'.encode(), max_bytes=LIMIT))
    assert len(issues) == 1
    assert "No matching global declaration" in issues[0].text


def test_parse_and_validate_refuses_hostile_input_before_validation():
    with pytest.raises(XmlInputError):
        parse_and_validate(b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", LIMIT)


def test_concurrent_validation_gives_each_thread_its_own_errors():
    """A compiled lxml schema keeps one error log; the registry must not let threads mix them up."""
    registry = SchemaRegistry.default()
    valid = _valid_e66()
    invalid = valid.replace(b"<hdr:DocumentType>E66</hdr:DocumentType>", b"<hdr:DocumentType>?</hdr:DocumentType>")
    assert invalid != valid

    def check(i: int) -> int:
        data = invalid if i % 2 else valid
        return len(registry.validate(parse_xml(data, max_bytes=LIMIT)))

    expected = [check(i) for i in range(2)]
    assert expected[0] == 0 and expected[1] >= 1
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(check, range(64)))
    assert results == [expected[i % 2] for i in range(64)]
    entry = registry.entry_for("urn:fi:Datahub:mif:metering:E66_EnergyTimeSeries:v1", "EnergyTimeSeriesMessage")
    assert 1 <= entry.compiled_count <= 4


def test_a_payload_element_inside_a_soap_envelope_validates_in_place():
    from gateway.soap.envelope import parse_request, send_message_request

    valid = parse_request(send_message_request(_valid_e66())).payload_element
    assert valid is not None
    assert validate(valid) == []
    broken = _valid_e66().replace(b"<hdr:DocumentType>E66<", b"<hdr:DocumentType>X<")
    payload = parse_request(send_message_request(broken)).payload_element
    assert payload is not None
    issues = validate(payload)
    assert [issue.code for issue in issues] == ["XSD.SCHEMAV_CVC_ENUMERATION_VALID"]


def _with_invalid_values(count: int) -> bytes:
    import re
    from datetime import date

    from mappings import samples

    document = samples.e66_message(samples.OUR_DSO_GLN, samples.OUR_SUPPLIER_GLN, [samples.gsrn(1)], date(2026, 1, 15))
    first = re.search(rb"<elm:OBS>.*?</elm:OBS>", document, re.DOTALL)
    assert first is not None
    bad = first.group(0).replace(b"<elm:QTY>", b"<elm:QTY>x") + b"\n"
    return document[:first.start()] + b"\n" + bad * count + document[first.start():]


def test_a_large_document_is_validated_as_a_stream_with_the_same_verdict_as_its_tree() -> None:
    registry = default_registry()
    few = _with_invalid_values(4_000)  # above STREAM_FROM, but only 4,000 errors: the tree is validated too
    assert len(few) > STREAM_FROM
    tree = parse_xml(few, max_bytes=LIMIT)
    entry = registry.entry_for_root(tree.getroot())
    on_the_tree = registry.validate_with(entry, tree)
    streamed = registry.check_with(entry, tree, limit=10, document=few)
    assert streamed.total == len(on_the_tree) == 4_000
    assert [(i.code, i.line) for i in streamed.issues] == [(i.code, i.line) for i in on_the_tree[:10]], \
        "a flood's listed errors are placed where the tree's validation places them"
    assert registry.check_with(entry, tree, limit=5_000, document=few).issues == on_the_tree, \
        "few enough errors: exactly the tree's"
    valid = parse_xml(_with_invalid_values(0), max_bytes=LIMIT)
    assert registry.check_with(entry, valid, limit=10, document=_with_invalid_values(0)) == ([], 0)
