"""The virtual bank barcode: every vector of Finance Finland's Bank Bar Code Guide v5.3 (docs/market.md §4.3) in
both versions, and the invariants behind them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.billing.core.barcode import InvalidBarcode, code128_modules, decode_barcode, virtual_barcode
from gateway.billing.core.reference import national_reference, rf_reference

# (IBAN, amount, national reference, RF reference, due YYMMDD, v4, v5) exactly as the guide prints them.
VECTORS = [
    ("FI79 4405 2020 0360 82", "4883.15", "86851 62596 19897", "RF09 8685 1625 9619 897", "100612",
     "479440520200360820048831500000000868516259619897100612",
     "579440520200360820048831509000000868516259619897100612"),
    ("FI02 5000 4640 0013 02", "693.80", "69 87567 20834 35364", "RF61 6987 5672 0839", "110724",
     "402500046400013020006938000000069875672083435364110724",
     "502500046400013020006938061000000000698756720839110724"),
    ("FI15 6601 0001 5306 41", "7444.54", "7 75847 47906 47489", "RF84 7758 4747 9064 7489", "191219",
     "415660100015306410074445400000007758474790647489191219",
     "515660100015306410074445484000007758474790647489191219"),
    ("FI16 8000 1400 0502 67", "935.85", "78 77767 96566 28687", "RF60 7877 7679 6566 2868 7", None,
     "416800014000502670009358500000078777679656628687000000",
     "516800014000502670009358560000078777679656628687000000"),
    ("FI73 3131 3001 0000 58", None, "8 68624", "RF10 8686 24", "130809",
     "473313130010000580000000000000000000000000868624130809",
     "573313130010000580000000010000000000000000868624130809"),
    ("FI83 3301 0001 1007 75", "150000.20", "92125 37425 25398 97737", "RF71 9212 5374 2525 3989 7737", "160525",
     "483330100011007751500002000092125374252539897737160525",
     "583330100011007751500002071092125374252539897737160525"),
    ("FI39 3636 3002 0924 92", "1.03", "5907 38390", "RF66 5907 3839 0", "230311",
     "439363630020924920000010300000000000000590738390230311",
     "539363630020924920000010366000000000000590738390230311"),
    ("FI92 3939 0001 0033 91", "0.02", "13 57914", "RF95 1357 914", "991224",
     "492393900010033910000000200000000000000001357914991224",
     "592393900010033910000000295000000000000001357914991224"),
]


def _due(text: str | None) -> date | None:
    return None if text is None else date(2000 + int(text[:2]), int(text[2:4]), int(text[4:]))


@pytest.mark.parametrize(("iban", "amount", "national", "rf", "due", "v4", "v5"), VECTORS)
def test_every_guide_vector_encodes_and_decodes_in_both_versions(iban, amount, national, rf, due, v4, v5) -> None:
    money = None if amount is None else Decimal(amount)
    assert virtual_barcode(iban, money, national, _due(due)) == v4
    assert virtual_barcode(iban, money, rf, _due(due)) == v5
    for code, reference in ((v4, national), (v5, rf)):
        fields = decode_barcode(code)
        assert fields.iban == iban.replace(" ", "")
        assert fields.amount == money
        assert fields.reference == reference.replace(" ", "")
        assert fields.due == _due(due)
        assert fields.version == int(code[0])


@given(
    account=st.integers(min_value=0, max_value=10**12 - 1),
    cents=st.integers(min_value=1, max_value=99_999_999),
    base=st.integers(min_value=100, max_value=10**19 - 1),
    due=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    rf=st.booleans(),
)
def test_every_barcode_decodes_back_to_its_iban_amount_reference_and_due_date(account, cents, base, due, rf) -> None:
    from stdnum.iso7064 import mod_97_10

    bban = f"{account:014d}"
    iban = f"FI{mod_97_10.calc_check_digits(bban + 'FI')}{bban}"
    national = national_reference(base)
    reference = rf_reference(national) if rf else national
    amount = Decimal(cents).scaleb(-2)
    fields = decode_barcode(virtual_barcode(iban, amount, reference, due))
    assert (fields.iban, fields.amount, fields.reference, fields.due) == (iban, amount, reference, due)


@given(st.decimals(min_value=Decimal("1000000.00"), max_value=Decimal("10") ** 12, places=2))
def test_amounts_over_999_999_99_give_the_zero_amount_field(amount: Decimal) -> None:
    code = virtual_barcode("FI7944052020036082", amount, "1232", date(2026, 4, 15))
    assert code[17:25] == "00000000"
    assert decode_barcode(code).amount is None


def test_the_largest_amount_that_fits_and_no_amount_for_credits() -> None:
    assert virtual_barcode("FI7944052020036082", Decimal("999999.99"), "1232", None)[17:25] == "99999999"
    assert virtual_barcode("FI7944052020036082", Decimal("-5.00"), "1232", None)[17:25] == "00000000"


@pytest.mark.parametrize(("iban", "reference", "amount"), [
    ("DE89370400440532013000", "1232", "1.00"),  # not a Finnish account
    ("FI7944052020036083", "1232", "1.00"),  # IBAN check digits wrong
    ("FI7944052020036082", "1233", "1.00"),  # reference check digit wrong
    ("FI7944052020036082", "RF00 1232", "1.00"),  # RF check digits wrong
    ("FI7944052020036082", "1232", "1.001"),  # fractions of a cent
])
def test_bad_input_is_refused_with_a_reason(iban: str, reference: str, amount: str) -> None:
    with pytest.raises(InvalidBarcode):
        virtual_barcode(iban, Decimal(amount), reference, None)


@pytest.mark.parametrize("code", [
    "379440520200360820048831500000000868516259619897100612",  # version 3
    "47944052020036082004883150000000086851625961989710061",  # 53 digits
    "479440520200360820048831500000000868516259619898100612",  # reference check digit
    "479440520200360820048831500000000868516259619897101312",  # month 13
])
def test_malformed_codes_do_not_decode(code: str) -> None:
    with pytest.raises(InvalidBarcode):
        decode_barcode(code)


def test_the_printed_symbol_is_code_128_set_c() -> None:
    code = VECTORS[0][5]
    modules = code128_modules(code)
    # Start C (105) = 11010011100; 27 digit pairs + check symbol of 11 modules each; stop 1100011101011.
    assert modules.startswith("11010011100")
    assert modules.endswith("1100011101011")
    assert len(modules) == 11 + 27 * 11 + 11 + 13
