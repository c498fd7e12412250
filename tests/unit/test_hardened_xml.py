"""The hardened parser: hostile documents are refused with a specific code, never crash, never blow up."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.xml.hardened import (
    MAX_ATTRIBUTES,
    XML_DTD_FORBIDDEN,
    XML_EMPTY,
    XML_ENCODING,
    XML_ENTITY_FORBIDDEN,
    XML_INVALID_CHAR,
    XML_LIMIT_EXCEEDED,
    XML_MALFORMED,
    XML_TOO_LARGE,
    XmlInputError,
    _new_parser,
    parse_xml,
    peek_root_name,
)

HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"
REPO = Path(__file__).resolve().parents[2]
LIMIT = 1_000_000

EXPECTED_CODES = {
    "xxe_file.xml": XML_DTD_FORBIDDEN,
    "xxe_http.xml": XML_DTD_FORBIDDEN,
    "xxe_parameter_entity.xml": XML_DTD_FORBIDDEN,
    "billion_laughs.xml": XML_DTD_FORBIDDEN,
    "quadratic_blowup.xml": XML_DTD_FORBIDDEN,
    "external_dtd.xml": XML_DTD_FORBIDDEN,
    "doctype_after_comment.xml": XML_DTD_FORBIDDEN,
    "undeclared_entity.xml": XML_ENTITY_FORBIDDEN,
    "truncated.xml": XML_MALFORMED,
    "two_roots.xml": XML_MALFORMED,
    "not_xml.xml": XML_MALFORMED,
    "declared_latin1.xml": XML_ENCODING,
    "utf16_with_bom.xml": XML_ENCODING,
    "invalid_utf8.xml": XML_ENCODING,
    "nul_byte.xml": XML_INVALID_CHAR,
    "empty.xml": XML_EMPTY,
    "whitespace_only.xml": XML_EMPTY,
    "deeply_nested.xml": XML_LIMIT_EXCEEDED,
}


def test_every_corpus_file_has_an_expected_code():
    assert {p.name for p in HOSTILE.glob("*.xml")} == set(EXPECTED_CODES)


@pytest.mark.parametrize(("name", "code"), sorted(EXPECTED_CODES.items()))
def test_hostile_document_is_refused_with_its_specific_code(name: str, code: str):
    with pytest.raises(XmlInputError) as refused:
        parse_xml((HOSTILE / name).read_bytes(), max_bytes=LIMIT)
    assert refused.value.code == code
    assert refused.value.text


def test_size_limit_is_enforced_before_parsing():
    # Not XML at all: had the parser run, the error would be XML.MALFORMED.
    with pytest.raises(XmlInputError) as refused:
        parse_xml(b"x" * 1001, max_bytes=1000)
    assert refused.value.code == XML_TOO_LARGE


def test_document_of_exactly_the_limit_is_accepted():
    document = b"<a>" + b"x" * 93 + b"</a>"
    assert parse_xml(document, max_bytes=len(document)).getroot().text == "x" * 93


def test_errors_carry_line_and_column():
    with pytest.raises(XmlInputError) as truncated:
        parse_xml((HOSTILE / "truncated.xml").read_bytes(), max_bytes=LIMIT)
    assert truncated.value.line == 5
    with pytest.raises(XmlInputError) as doctype:
        parse_xml((HOSTILE / "doctype_after_comment.xml").read_bytes(), max_bytes=LIMIT)
    assert (doctype.value.line, doctype.value.column) == (4, 1)


def test_utf8_with_bom_and_declaration_is_accepted_with_line_numbers():
    document = "\ufeff<?xml version='1.0' encoding='utf-8'?>\n<a>\n  <b>Hyvää päivää</b>\n</a>\n".encode()
    tree = parse_xml(document, max_bytes=LIMIT)
    b = tree.getroot().find("b")
    assert b is not None
    assert b.text == "Hyvää päivää"
    assert b.sourceline == 3  # type: ignore[comparison-overlap]


def test_doctype_text_inside_the_body_is_not_a_doctype():
    tree = parse_xml(b"<a><!-- <!DOCTYPE x> --><![CDATA[<!DOCTYPE y>]]></a>", max_bytes=LIMIT)
    assert tree.getroot()[0].tail == "<!DOCTYPE y>"


def test_parser_configuration_alone_never_reads_external_entities():
    """Defence in depth: even without the DOCTYPE check, the parser must not resolve a file entity."""
    try:
        root = etree.fromstring((HOSTILE / "xxe_file.xml").read_bytes(), _new_parser())
    except etree.XMLSyntaxError:
        return
    assert b"root:" not in etree.tostring(root)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_either_parse_or_raise_xml_input_error(data: bytes):
    try:
        parse_xml(data, max_bytes=200)
    except XmlInputError as error:
        assert error.code.startswith("XML.")


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=50))
def test_any_text_content_round_trips(text: str):
    element = etree.Element("a")
    try:
        element.text = text
    except ValueError:  # control characters XML cannot carry
        return
    assert parse_xml(etree.tostring(element, encoding="UTF-8"), max_bytes=LIMIT).getroot().text == (text or None)


def test_whole_corpus_and_large_inputs_stay_within_bounded_memory():
    """Run in a fresh process so the peak resident size belongs to this test alone. Expanding the billion
    laughs would need gigabytes; the bound leaves room only for the interpreter, lxml and the inputs."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        from gateway.xml.hardened import XmlInputError, parse_xml
        codes = {{}}
        inputs = [(p.name, p.read_bytes()) for p in sorted(Path({str(HOSTILE)!r}).glob("*.xml"))]
        inputs.append(("oversized", b"<a>" + b"x" * 20_000_000 + b"</a>"))
        inputs.append(("deep_and_wide", b"<a>" * 200_000 + b"</a>" * 200_000))
        for name, data in inputs:
            try:
                parse_xml(data, max_bytes=10_000_000)
                codes[name] = "OK"
            except XmlInputError as error:
                codes[name] = error.code
        # VmHWM is this process's own peak; ru_maxrss would include the parent's peak from before the exec.
        hwm = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
        print(json.dumps({{"codes": codes, "peak_kib": int(hwm.split()[1])}}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60, check=True
    )
    report = json.loads(result.stdout)
    assert report["codes"]["oversized"] == XML_TOO_LARGE
    assert report["codes"]["deep_and_wide"] == XML_LIMIT_EXCEEDED
    assert {name: report["codes"][name] for name in EXPECTED_CODES} == EXPECTED_CODES
    assert report["peak_kib"] < 200 * 1024


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- a <soap:Envelope> in a comment -->\n<rsm:Msg xmlns:rsm="u">',
         "Msg"),
        (b"\xef\xbb\xbf<env:Envelope xmlns:env='http://www.w3.org/2003/05/soap-envelope'><env:Body/>", "Envelope"),
        (b"<?pi first?>\n  <Envelope/>", "Envelope"),
        (b"<a\n b='1'>", "a"),
        (b"<!DOCTYPE a><a/>", None),  # refused by the parser, which says why
        (b"\xff\xfe<\x00a\x00/\x00>\x00", None),
        (b"not xml", None),
        (b"", None),
    ],
)
def test_the_root_name_is_read_off_the_start_tag_without_parsing(data: bytes, name: str | None) -> None:
    assert peek_root_name(data) == name


def _attributes(n: int, value: bytes = b"1") -> bytes:
    return b" ".join(b'a%d="%s"' % (i, value) for i in range(n))


def test_an_element_with_more_than_the_allowed_attributes_is_refused_before_parsing() -> None:
    assert parse_xml(b"<r " + _attributes(MAX_ATTRIBUTES) + b"/>", max_bytes=LIMIT).getroot().tag == "r"
    with pytest.raises(XmlInputError) as refused:
        parse_xml(b"<r>\n  <x " + _attributes(MAX_ATTRIBUTES + 1) + b"/></r>", max_bytes=LIMIT)
    assert refused.value.code == XML_LIMIT_EXCEEDED
    assert (refused.value.line, refused.value.column) == (2, 3) and "element x" in refused.value.text


def test_only_real_start_tags_count_for_the_attribute_limit() -> None:
    many_equals = _attributes(3, b"a=b=c>d" * 50)  # "=" and ">" inside quoted values
    in_comment = b"<!-- <x " + _attributes(MAX_ATTRIBUTES + 1) + b"/> -->"
    in_cdata = b"<![CDATA[<x " + _attributes(MAX_ATTRIBUTES + 1) + b"/>]]>"
    text = b"=" * 500
    document = b"<r " + many_equals + b">" + in_comment + in_cdata + text + b"</r>"
    assert parse_xml(document, max_bytes=LIMIT).getroot().tag == "r"
    # A comment opener inside a CDATA section does not hide the element after it.
    trick = b"<r><![CDATA[<!--]]><x " + _attributes(MAX_ATTRIBUTES + 1) + b"/> --></r>"
    with pytest.raises(XmlInputError) as refused:
        parse_xml(trick, max_bytes=LIMIT)
    assert refused.value.code == XML_LIMIT_EXCEEDED
