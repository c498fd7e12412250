"""Packing metering values for the store is exact for every quantity the E66 schema allows."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain.metering import MeteringTransaction, micro_units_of_texts
from gateway.rating.core.quality import Quality
from gateway.store.metering import pack

# QTY_F8_6: at most 8 integer and 6 fraction digits, never negative.
quantities = st.decimals(min_value=0, max_value=Decimal("99999999.999999"), places=6, allow_nan=False)


def _txn(values: list[Decimal | None], qualities: list[str | None], missing: list[bool]) -> MeteringTransaction:
    start = datetime(2026, 1, 14, 22, tzinfo=UTC)
    n = len(values)
    return MeteringTransaction(
        transaction_id="t", accounting_point="643000000000000016", metering_point_type="AG01",
        product="8716867000030", unit="kWh", resolution="PT15M", start=start,
        end=start + timedelta(minutes=15 * n), sequences=tuple(range(1, n + 1)), quantities=tuple(values),
        qualities=tuple(qualities), missing=tuple(missing),
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(quantities, min_size=1, max_size=100))
def test_packed_micro_units_equal_the_exact_decimal_conversion(values: list[Decimal]) -> None:
    txn = _txn(list(values), [None] * len(values), [False] * len(values))
    packed, quality = pack(txn)
    assert np.frombuffer(packed, dtype="<i8").tolist() == list(txn.micro_units())
    assert quality == bytes(len(values))


def test_quality_codes_and_missing_values_are_packed_per_position() -> None:
    txn = _txn([Decimal("1.5"), None, Decimal("2"), Decimal("0.000001")], [None, None, "99", "Z01"],
               [False, True, False, False])
    packed, quality = pack(txn)
    assert np.frombuffer(packed, dtype="<i8").tolist() == [1_500_000, 0, 2_000_000, 1]
    assert list(quality) == [Quality.MEASURED, Quality.MISSING, Quality.ESTIMATED, Quality.REVISED]


def _spellings(value: Decimal) -> st.SearchStrategy[str]:
    """Ways a schema-valid xsd:decimal may write the value: plain, padded with zeros, signed, spaced."""
    plain = format(value, "f")
    return st.sampled_from([plain, f"+{plain}", f"000{plain}", f"{plain}000" if "." in plain else f"{plain}.000",
                            f"  {plain}\n", plain.lstrip("0") if plain.startswith("0.") else plain])


@settings(max_examples=300, deadline=None)
@given(st.lists(quantities.flatmap(_spellings), min_size=1, max_size=100))
def test_micro_units_from_qty_texts_equal_the_exact_decimal_conversion(texts: list[str]) -> None:
    micro = micro_units_of_texts(texts)
    assert micro is not None
    assert micro.tolist() == [int(Decimal(t).scaleb(6)) for t in texts]


def test_texts_outside_the_exact_float_range_take_the_decimal_route() -> None:
    assert micro_units_of_texts(["100000000.000001"]) is None
    assert micro_units_of_texts(["nan"]) is None
    assert micro_units_of_texts(["1,5"]) is None
    txn = dataclasses.replace(_txn([Decimal("2.5")], [None], [False]), micro=None)
    assert np.frombuffer(pack(txn)[0], dtype="<i8").tolist() == [2_500_000]
