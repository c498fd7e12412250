"""The file formats of rating input that are not market messages: heat readings CSV and product assignments CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.identifiers import make_gsrn
from gateway.rating.assignments import read_assignment_csv
from gateway.rating.core.quality import Quality
from gateway.rating.errors import RatingInputError
from gateway.rating.heat import parse_heat_csv

POINT = make_gsrn("64300757400000001")
T0 = datetime(2026, 1, 31, 22, tzinfo=UTC)


def heat_csv(values: list[str], minutes: int = 60, start: datetime = T0, header: str = "start_utc,end_utc,kwh") -> str:
    step = timedelta(minutes=minutes)
    rows = [header] + [f"{(start + i * step).isoformat()},{(start + (i + 1) * step).isoformat()},{v}"
                       for i, v in enumerate(values)]
    return "\n".join(rows) + "\n"


@given(st.lists(st.decimals(min_value=0, max_value=10**6, places=6, allow_nan=False), min_size=1, max_size=50),
       st.sampled_from([15, 60]))
def test_heat_readings_keep_every_value_exactly(values: list[Decimal], minutes: int) -> None:
    [series] = parse_heat_csv(heat_csv([str(v) for v in values], minutes))
    assert series.values_micro == tuple(int(v.scaleb(6)) for v in values)
    assert series.resolution_minutes == minutes and series.start == T0
    assert series.end == T0 + timedelta(minutes=minutes * len(values))


def test_a_gap_or_a_change_of_resolution_starts_a_new_series() -> None:
    text = heat_csv(["1", "2"]) + heat_csv(["3"], start=T0 + timedelta(hours=5), header="").lstrip("\n")
    first, second = parse_heat_csv(text)
    assert (first.values_micro, second.values_micro) == ((1_000_000, 2_000_000), (3_000_000,))
    assert second.start == T0 + timedelta(hours=5)


def test_heat_quality_column_and_mwh() -> None:
    text = ("start_utc,end_utc,mwh,quality\n"
            "2026-01-31T22:00:00Z,2026-01-31T23:00:00Z,0.004,\n"
            "2026-01-31T23:00:00Z,2026-02-01T00:00:00Z,0.005,estimated\n"
            "2026-02-01T00:00:00Z,2026-02-01T01:00:00Z,,missing\n")
    [series] = parse_heat_csv(text)
    assert series.unit == "MWh" and series.values_micro == (4_000, 5_000, 0)
    assert series.quality == (Quality.MEASURED, Quality.ESTIMATED, Quality.MISSING)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("start,end,kwh\n", "the header must be"),
        (heat_csv(["-1"]), "must be a number ≥ 0"),
        (heat_csv(["0.0000001"]), "more than six decimals"),
        (heat_csv(["NaN"]), "must be a number ≥ 0"),
        (heat_csv(["x"]), "not a decimal quantity"),
        (heat_csv(["1"], minutes=30), "15 or 60 minutes"),
        (heat_csv(["1"], start=T0 + timedelta(minutes=15)), "not aligned"),
        (heat_csv(["1", "2"]) + heat_csv(["3"], header="").lstrip("\n"), "overlap or are out of order"),
        ("start_utc,end_utc,kwh\n2026-01-31T22:00:00,2026-01-31T23:00:00,1\n", "has no UTC offset"),
        ("start_utc,end_utc,kwh,quality\n2026-01-31T22:00:00Z,2026-01-31T23:00:00Z,1,guessed\n", "quality 'guessed'"),
        ("start_utc,end_utc,kwh\n", "no readings"),
    ],
)
def test_invalid_heat_files_name_the_line_and_the_problem(text: str, message: str) -> None:
    with pytest.raises(RatingInputError, match=message):
        parse_heat_csv(text)


def test_assignment_file_with_inclusive_last_days_and_optional_columns() -> None:
    specs = read_assignment_csv(
        "accounting_point,product_code,valid_from,valid_to,main_fuse,contracted_flow_m3h\n"
        f"{POINT},SV-AIKA,2026-01-01,2026-06-30,3x25A,\n"
        f"{POINT},KL-KUUKAUSI,2026-01-01,,,1.25\n"
    )
    assert [(s.product_code, s.valid_from, s.valid_to, s.main_fuse, s.contracted_flow_m3h) for s in specs] == [
        ("SV-AIKA", date(2026, 1, 1), date(2026, 7, 1), "3x25A", None),
        ("KL-KUUKAUSI", date(2026, 1, 1), None, None, Decimal("1.25")),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("point,product\n", "line 1: the header must be"),
        (f"accounting_point,product_code,valid_from,valid_to\n{POINT},SV-AIKA,1.1.2026,\n", "line 2: valid_from"),
        (f"accounting_point,product_code,valid_from,valid_to\n{POINT},SV-AIKA,2026-02-01,2026-01-01\n",
         "line 2: assignment of SV-AIKA ends before it starts"),
        ("accounting_point,product_code,valid_from,valid_to\n643007574000000018,SV-AIKA,2026-01-01,\n",
         "line 2: '643007574000000018' is not a valid GSRN"),
        ("accounting_point,product_code,valid_from,valid_to\n", "no rows"),
    ],
)
def test_invalid_assignment_files_name_the_line(text: str, message: str) -> None:
    with pytest.raises(RatingInputError, match=message):
        read_assignment_csv(text)
