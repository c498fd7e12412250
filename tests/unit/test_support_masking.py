"""Personal identity codes never leave in full: the masking net under every support response."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st
from stdnum.fi import hetu

from gateway.access.masking import contains_identity_code, mask_identity_codes, mask_identity_codes_bytes

CENTURY_SIGNS = {1800: "+", 1900: "-YXWVU", 2000: "ABCDEF"}


@st.composite
def identity_codes(draw: st.DrawFn) -> str:
    born = draw(st.dates(min_value=date(1850, 1, 1), max_value=date(2099, 12, 31)))
    signs = CENTURY_SIGNS[born.year // 100 * 100]
    sign = draw(st.sampled_from(signs))
    serial = draw(st.integers(min_value=2, max_value=899))
    body = f"{born:%d%m%y}{sign}{serial:03d}"
    # The check character: (birth date digits + serial) mod 31 into this alphabet (Population Information Act).
    code = body + "0123456789ABCDEFHJKLMNPRSTUVWXY"[int(body[:6] + body[7:]) % 31]
    assert hetu.is_valid(code)
    return code


@given(identity_codes(), st.text(alphabet=" <>=\"/:;,.\n", max_size=5), st.text(alphabet=" <>=\"/:;,.\n", max_size=5))
def test_every_valid_code_is_masked_and_the_length_kept(code: str, before: str, after: str) -> None:
    text = f"{before}{code}{after}"
    masked = mask_identity_codes(text)
    assert code not in masked
    assert masked == f"{before}{code[:7]}****{after}"
    assert len(masked) == len(text)  # line and column numbers of errors stay right
    assert mask_identity_codes_bytes(text.encode()) == masked.encode()


def test_codes_in_xml_json_and_error_texts_are_masked_and_a_wrong_check_character_too() -> None:
    xml = '<elm:Identification schemeAgencyIdentifier="260">131052-308T</elm:Identification>'
    assert "131052-****" in mask_identity_codes(xml) and "308T" not in mask_identity_codes(xml)
    assert mask_identity_codes('{"identification": "131052-308U"}') == '{"identification": "131052-****"}'
    assert mask_identity_codes("value '010101A123N' is not valid") == "value '010101A****' is not valid"


def test_identifiers_that_only_look_alike_are_left_alone() -> None:
    for text in ("643000000000000016", "6430000000016", "2026-03-01T22:00:00Z", "e66-support-2026-03-01",
                 "3f1c9a52-0000-4000-8000-00000000d3m0", "2077474-0", "DH-311-1", "1234567-8901", "x131052-308T"):
        assert mask_identity_codes(text) == text, text
        assert not contains_identity_code(text)
