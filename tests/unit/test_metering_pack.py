"""Packing metering values for the store is exact for every quantity the E66 schema allows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.billing.quality import Quality
from gateway.domain.metering import MeteringTransaction
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
