"""Finnish reference numbers and RF references: Finance Finland's vectors and the invariants behind them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.billing.core.reference import (
    InvalidReference,
    check_digit,
    format_national,
    format_rf,
    is_valid_national,
    is_valid_rf,
    national_from_rf,
    national_reference,
    parse_reference,
    rf_reference,
    validate_national,
)

# (national reference, its RF form) from Finance Finland's Bank Bar Code Guide v5.3 examples.
GUIDE = [
    ("86851 62596 19897", "RF09 8685 1625 9619 897"),
    ("7 75847 47906 47489", "RF84 7758 4747 9064 7489"),
    ("78 77767 96566 28687", "RF60 7877 7679 6566 2868 7"),
    ("8 68624", "RF10 8686 24"),
    ("92125 37425 25398 97737", "RF71 9212 5374 2525 3989 7737"),
    ("5907 38390", "RF66 5907 3839 0"),
    ("13 57914", "RF95 1357 914"),
]


def test_the_guides_worked_example_base_123_gives_1232() -> None:
    assert check_digit("123") == "2"
    assert national_reference("123") == "1232"


@pytest.mark.parametrize(("national", "rf"), GUIDE)
def test_guide_references_validate_and_convert_to_their_rf_form(national: str, rf: str) -> None:
    assert is_valid_national(national)
    assert format_national(national.replace(" ", "")) == national
    assert format_rf(rf_reference(national)) == rf
    assert is_valid_rf(rf.replace(" ", ""))
    assert national_from_rf(rf.replace(" ", "")) == national.replace(" ", "")


def test_the_guides_independent_rf_reference_is_valid() -> None:
    assert is_valid_rf("RF6169875672083 9".replace(" ", ""))


@pytest.mark.parametrize("bad", ["", "12", "1231", "abc4", "1" * 21, "RF00 1232"])
def test_malformed_or_wrong_check_digit_is_refused(bad: str) -> None:
    assert not is_valid_national(bad)
    with pytest.raises(InvalidReference):
        validate_national(bad)


def test_a_bank_file_pads_references_with_zeros_and_they_still_match() -> None:
    assert parse_reference("00000000000000001232") == "1232"
    assert parse_reference("rf09 8685 1625 9619 897") == "RF098685162596198 97".replace(" ", "")
    assert parse_reference("1233") is None
    assert parse_reference("RF10 8686 25") is None


@given(st.integers(min_value=100, max_value=10**19 - 1))
def test_every_generated_reference_validates_in_both_forms(base: int) -> None:
    national = national_reference(base)
    assert is_valid_national(national)
    assert national[:-1] == str(base)
    rf = rf_reference(national)
    assert is_valid_rf(rf)
    assert national_from_rf(rf) == national
    assert parse_reference(format_national(national)) == national
    assert parse_reference(format_rf(rf)) == rf


@given(st.integers(min_value=100, max_value=10**18), st.integers(min_value=1, max_value=9))
def test_changing_one_digit_breaks_the_check(base: int, delta: int) -> None:
    national = national_reference(base)
    position = len(national) - 1  # the check digit itself
    wrong = national[:position] + str((int(national[position]) + delta) % 10)
    assert not is_valid_national(wrong)
