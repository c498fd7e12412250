"""GS1 check digits (GSRN, GLN), business ids, and personal identity codes that never print in full."""

from __future__ import annotations

import logging
import pickle
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.customer import Customer, CustomerEvent
from gateway.domain.identifiers import (
    PersonalIdentityCode,
    gs1_check_digit,
    is_valid_business_id,
    is_valid_gln,
    is_valid_gsrn,
    make_gln,
    make_gsrn,
)
from gateway.domain.message import DatahubMessage, MessageHeader, ProcessContext

DATAHUB_WIKI_GSRN = "645823734848458216"  # the example accounting point of Datahub's documentation
HETU = "131052-308T"  # the Digital and Population Data Services Agency's example code


class TestGs1CheckDigit:
    def test_the_datahub_example_gsrn_is_valid(self) -> None:
        assert gs1_check_digit(DATAHUB_WIKI_GSRN[:-1]) == "6"
        assert is_valid_gsrn(DATAHUB_WIKI_GSRN)

    @pytest.mark.parametrize("wrong", [d for d in "0123456789" if d != "6"])
    def test_every_other_check_digit_is_rejected(self, wrong: str) -> None:
        assert not is_valid_gsrn(DATAHUB_WIKI_GSRN[:-1] + wrong)

    @pytest.mark.parametrize(
        "value",
        [
            "64582373484845821",
            "6458237348484582160",
            "64582373484845821A",
            "",
            " 645823734848458216",
            "６45823734848458216",
        ],
    )
    def test_wrong_length_or_non_digits_are_not_gsrns(self, value: str) -> None:
        assert not is_valid_gsrn(value)

    def test_gln_uses_the_same_check_digit(self) -> None:
        # a GLN with a correct check digit, and the same with the last digit changed
        assert is_valid_gln("4012345000009")
        assert not is_valid_gln("4012345000008")
        assert not is_valid_gln(DATAHUB_WIKI_GSRN)  # a GSRN is not a GLN

    def test_make_completes_bodies(self) -> None:
        assert make_gsrn(DATAHUB_WIKI_GSRN[:-1]) == DATAHUB_WIKI_GSRN
        assert make_gln("643000000001") == "6430000000016"
        with pytest.raises(ValueError):
            make_gsrn("123")
        with pytest.raises(ValueError):
            gs1_check_digit("12a")

    @given(st.from_regex(r"\A[0-9]{17}\Z"), st.integers(0, 16), st.integers(1, 9))
    def test_a_single_changed_digit_is_always_detected(self, body: str, position: int, delta: int) -> None:
        gsrn = make_gsrn(body)
        assert is_valid_gsrn(gsrn)
        changed = gsrn[:position] + str((int(gsrn[position]) + delta) % 10) + gsrn[position + 1 :]
        assert not is_valid_gsrn(changed)


def test_business_id_check_digit() -> None:
    assert is_valid_business_id("2077474-0")
    assert not is_valid_business_id("2077474-1")


class TestPersonalIdentityCode:
    def test_str_repr_and_format_are_masked(self) -> None:
        code = PersonalIdentityCode(HETU)
        for shown in (str(code), repr(code), f"{code}", f"{code!r}", f"{code:>20}", f"{code}"):
            assert "308T" not in shown
        assert str(code) == "131052-****"

    def test_the_full_value_needs_an_explicit_accessor(self) -> None:
        assert PersonalIdentityCode(HETU).reveal() == HETU

    def test_containers_and_dataclasses_do_not_leak_it(self) -> None:
        code = PersonalIdentityCode(HETU)
        customer = Customer(identification=code, identification_type="AA03", customer_type="AB02")
        message = DatahubMessage(
            MessageHeader("m", "F01", datetime(2026, 1, 1, tzinfo=UTC), "a", "b", "c", "d"),
            ProcessContext("DH-111-1", "DDQ"),
            (CustomerEvent(datetime(2026, 1, 1, tzinfo=UTC), customer),),
        )
        for shown in (repr([code]), repr({"id": code}), repr(customer), repr(message), str(message)):
            assert HETU not in shown

    def test_logging_and_exceptions_do_not_leak_it(self, caplog: pytest.LogCaptureFixture) -> None:
        code = PersonalIdentityCode(HETU)
        with caplog.at_level(logging.INFO):
            logging.getLogger("test").info("customer %s, %r", code, code)
        assert HETU not in caplog.text
        assert HETU not in str(ValueError(f"bad customer {code}"))

    def test_equality_hash_and_pickle_use_the_full_value(self) -> None:
        a, b = PersonalIdentityCode(HETU), PersonalIdentityCode(HETU)
        assert a == b and hash(a) == hash(b)
        assert a != PersonalIdentityCode("131052-308U")
        assert a != HETU  # never equal to a plain string: comparing would invite leaking
        assert pickle.loads(pickle.dumps(a)) == a

    def test_validity(self) -> None:
        assert PersonalIdentityCode(HETU).is_valid()
        assert not PersonalIdentityCode("131052-308U").is_valid()

    def test_short_or_odd_values_are_fully_masked(self) -> None:
        assert str(PersonalIdentityCode("12")) == "****"
        assert "1234567" not in str(PersonalIdentityCode("1234567"))
