"""Keyset cursors and the inline SVG charts of the support pages."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from lxml import etree

from gateway.queries.consumption import Day
from gateway.queries.pagination import MAX_LIMIT, BadQuery, decode_cursor, encode_cursor, parse_limit
from gateway.support.charts import consumption_and_price, monthly_costs

SVG = "{http://www.w3.org/2000/svg}"


def test_a_cursor_round_trips_and_a_forged_one_is_a_bad_query() -> None:
    key = ["2026-03-01T22:00:00+00:00", 3, 42]
    assert decode_cursor(encode_cursor(key), 3) == key
    assert decode_cursor(None, 3) is None
    for forged in ("not base64 !!", encode_cursor([1, 2]), encode_cursor({"a": 1}), "e30"):  # e30 = "{}"
        with pytest.raises(BadQuery):
            decode_cursor(forged, 3)


def test_limits_are_bounded() -> None:
    assert parse_limit(None) == 50 and parse_limit("1") == 1 and parse_limit(str(MAX_LIMIT)) == MAX_LIMIT
    for bad in ("0", "-1", str(MAX_LIMIT + 1), "ten", "1.5"):
        with pytest.raises(BadQuery):
            parse_limit(bad)


def test_the_consumption_chart_has_a_bar_per_day_with_data_and_a_price_line() -> None:
    days = [Day(date(2026, 3, 1) + timedelta(days=i), None if i == 3 else Decimal("10.5") + i, 0, 0,
                Decimal("4.123") if i % 2 else None) for i in range(31)]
    svg = etree.fromstring(str(consumption_and_price(days, "kWh <day>", "c/kWh")).encode())
    assert svg.tag == f"{SVG}svg"
    bars = svg.findall(f".//{SVG}rect[@class='bar']")
    assert len(bars) == 30  # the day without data has none
    assert svg.find(f".//{SVG}polyline[@class='price']") is not None
    assert "kWh <day>" in "".join(svg.itertext())  # labels are escaped, not markup


def test_the_monthly_chart_draws_one_line_per_product_and_the_current_one_thicker() -> None:
    svg = etree.fromstring(str(monthly_costs(["03/26", "04/26"], [
        ("EM-SPOT", [Decimal("150.10"), Decimal("120.00")], True),
        ("EM-AIKA", [Decimal("190.00"), Decimal("170.25")], False)], "cost")).encode())
    lines = {p.get("data-product"): p for p in svg.findall(f".//{SVG}polyline[@class='product']")}
    assert set(lines) == {"EM-SPOT", "EM-AIKA"}
    assert int(lines["EM-SPOT"].get("stroke-width")) > int(lines["EM-AIKA"].get("stroke-width"))
