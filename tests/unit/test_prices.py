"""Day-ahead price documents (ENTSO-E A44, real samples) and the simple price CSV → PriceSeries."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from mappings.entsoe_prices import PriceDocumentError, parse_day_ahead_prices, schema_for, validate
from mappings.price_csv import PriceCsvError, parse_price_csv

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "prices"
FI = "10YFI-1--------U"
D = Decimal


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize("name", ["day_ahead_prices_fi.xml", "entsoesample.xml"])
def test_real_samples_are_valid_against_their_iec_62325_schema(name: str) -> None:
    assert validate(fixture(name)) == []


def test_a_7_0_document_is_not_valid_against_the_7_3_schema() -> None:
    root = etree.fromstring(fixture("entsoesample.xml"))
    schema = schema_for("urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3")
    assert not schema.validate(root.getroottree())


def test_schema_errors_are_reported_with_line_and_column() -> None:
    errors = validate(fixture("invalid_schema_no_type.xml"))
    assert len(errors) == 1 and errors[0].startswith("5:") and "type" in errors[0]


def test_pt15m_a03_curve_fills_omitted_positions_with_the_previous_price() -> None:
    series = parse_day_ahead_prices(fixture("day_ahead_prices_fi.xml"))
    assert [(s.zone, s.start, s.resolution_minutes, len(s.prices_eur_per_mwh)) for s in series] == [
        (FI, datetime(2025, 10, 11, 22, tzinfo=UTC), 15, 96),
        (FI, datetime(2025, 10, 12, 22, tzinfo=UTC), 15, 96),
    ]
    text = fixture("day_ahead_prices_fi.xml").decode()
    assert text.count("<Point>") == 162  # 192 quarters published as 162 points
    first = series[0].prices_eur_per_mwh
    assert first[:8] == (D("2.67"), D("2.35"), D("1.99"), D("1.75"), D("1.51"), D("1.29"), D("1.26"), first[7])
    assert (first[-1], series[1].prices_eur_per_mwh[-1]) == (D("0.62"), D("76.69"))
    for index, one in enumerate(series):
        omitted = sorted(set(range(1, 97)) - {int(p) for p in _positions(text, index)})
        assert omitted, "the sample omits repeated prices"
        for position in omitted:
            assert one.prices_eur_per_mwh[position - 1] == one.prices_eur_per_mwh[position - 2]
    assert series[1].prices_eur_per_mwh[2:15] == (series[1].prices_eur_per_mwh[1],) * 13


def _positions(text: str, series_index: int) -> list[str]:
    root = etree.fromstring(text.encode())
    ns = {"p": etree.QName(root).namespace}
    ts = root.findall("p:TimeSeries", ns)[series_index]
    return [p.text or "" for p in ts.iterfind("p:Period/p:Point/p:position", ns)]


def test_pt60m_a01_document_keeps_negative_prices() -> None:
    series = parse_day_ahead_prices(fixture("entsoesample.xml"))
    assert [(s.start, s.resolution_minutes, len(s.prices_eur_per_mwh)) for s in series] == [
        (datetime(2023, 10, 10, 22, tzinfo=UTC), 60, 24),
        (datetime(2023, 10, 11, 22, tzinfo=UTC), 60, 24),
    ]
    assert series[0].prices_eur_per_mwh[:4] == (D("-4.54"), D("-4.98"), D("-5.09"), D("-5.15"))
    assert series[0].document_id == "088d1daf12264193ba46aa0c6e29c134" and series[0].revision == 1
    assert series[0].quanta()[0] == -4540  # 1 €/MWh = 1000 quanta of 0.000001 €/kWh


@pytest.mark.parametrize(
    "name,message",
    [
        ("invalid_a01_missing_position.xml", "position 5 missing from an A01 curve"),
        ("invalid_document_type_a65.xml", "is not day-ahead prices"),
    ],
)
def test_documents_that_are_not_usable_day_ahead_prices_are_rejected(name: str, message: str) -> None:
    with pytest.raises(PriceDocumentError, match=message):
        parse_day_ahead_prices(fixture(name))


def test_garbage_and_entity_tricks_are_rejected_without_expanding_entities() -> None:
    with pytest.raises(PriceDocumentError, match="well-formed"):
        parse_day_ahead_prices(b"<Publication_MarketDocument")
    evil = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><r>&e;</r>'
    with pytest.raises(PriceDocumentError, match="not a Publication_MarketDocument"):
        parse_day_ahead_prices(evil)


def test_price_csv_makes_one_series_per_run_of_equal_resolution() -> None:
    series = parse_price_csv((FIXTURES / "prices_fi_2023-11-01.csv").read_text(), FI)
    assert [(s.start, s.resolution_minutes, s.prices_eur_per_mwh) for s in series] == [
        (datetime(2023, 10, 31, 22, tzinfo=UTC), 60, (D("-4.54"), D("-500.00"), D("0.00"))),
        (datetime(2023, 11, 1, 1, tzinfo=UTC), 15, (D("12.5"), D("13.25"), D("4000"))),
    ]


@pytest.mark.parametrize(
    "text,message",
    [
        ("start,end,price\n", "header"),
        ("start_utc,end_utc,eur_per_mwh\n2023-10-31T22:00:00Z,2023-10-31T22:30:00Z,1\n", "15 or 60 minutes"),
        ("start_utc,end_utc,eur_per_mwh\n2023-10-31T22:00:00,2023-10-31T23:00:00,1\n", "no UTC offset"),
        ("start_utc,end_utc,eur_per_mwh\n2023-10-31T22:00:00Z,2023-10-31T23:00:00Z,abc\n", "not a decimal"),
        ("start_utc,end_utc,eur_per_mwh\n2023-10-31T22:00:00Z,2023-10-31T23:00:00Z,1.0001\n", "three decimals"),
        ("start_utc,end_utc,eur_per_mwh\n", "no price rows"),
    ],
)
def test_price_csv_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(PriceCsvError, match=message):
        parse_price_csv(text, FI)


def test_price_csv_rejects_overlapping_rows() -> None:
    with pytest.raises(PriceCsvError, match="line 3: rows overlap"):
        parse_price_csv((FIXTURES / "invalid_prices_overlap.csv").read_text(), FI)
