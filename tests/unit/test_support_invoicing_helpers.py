"""Pure helpers of the invoicing side of support: finding the OBS positions an invoice line used in the E66 as
received, the SEQ range of a link, and the API's JSON body check (the document is the rule)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.api.billing_routes import RUN_REQUEST
from gateway.api.validation import check_body
from gateway.queries.pagination import BadQuery
from gateway.queries.rawxml import as_received, parse_seq_range, positions

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "datahub"


def test_positions_mark_the_obs_lines_and_read_values_quality_and_missing() -> None:
    text = (FIXTURES / "e66-missing-and-estimated.xml").read_text(encoding="utf-8")
    lines = {line.number: line.text for line in as_received(text.encode(), [])}
    found = positions(text, "e66-mixed-t1", 20, 20)
    assert found.found and found.count == 1
    assert min(found.lines) == found.first_line and "<elm:OBS>" in lines[found.first_line]
    assert "</elm:OBS>" in lines[max(found.lines)]  # the whole element, closing tag included
    [value_line] = found.value_lines
    assert "<elm:QTY>2.171</elm:QTY>" in lines[value_line]
    assert found.values == ({"seq": 20, "start": found.values[0]["start"], "line": found.first_line,
                             "quantity": "2.171", "quality": "99", "missing": False},)
    missing = positions(text, "e66-mixed-t1", 60, 61)
    assert [v["missing"] for v in missing.values] == [True, True] and str(missing.total) == "0"
    assert all("<elm:QM>1</elm:QM>" in lines[n] for n in missing.value_lines)
    assert positions(text, "other-transaction", 1, 5).found is False
    assert positions("not xml", "e66-mixed-t1", 1, 5).found is False


def test_a_bundle_marks_only_the_named_transaction() -> None:
    text = (FIXTURES / "e66-bundle-50.xml").read_text(encoding="utf-8")
    second = positions(text, "f107adbb-2b3c-999a-5011-d1f7114b60b5", 1, 96)
    assert second.count == 96 and second.first_line is not None and second.first_line > 600
    first = positions(text, "7e738259-31fa-eec1-c78f-0c2c8675954c", 1, 2)
    assert [v["quantity"] for v in first.values] == ["2.468", "0.597"] and max(first.lines) < 60


@pytest.mark.parametrize(("text", "expected"), [
    ("5", (5, 5)), ("1-96", (1, 96)), ("0", None), ("5-3", None), ("x", None), ("", None), (None, None),
    ("1-9999999", None)])
def test_a_seq_range_is_one_position_or_an_ascending_range(text: str | None, expected: Any) -> None:
    assert parse_seq_range(text) == expected


def test_a_billing_run_request_is_checked_against_its_schema() -> None:
    assert check_body(RUN_REQUEST, {"period": "2026-03", "dry_run": True}) == {"period": "2026-03", "dry_run": True}
    for body, problem in [
        ({}, "period is required"), ({"period": "2026-13"}, "does not match"), ([], "JSON object"),
        ({"period": "2026-03", "dry_run": "yes"}, "dry_run must be boolean"),
        ({"period": "2026-03", "dry_run": None}, "may not be null"),
        ({"period": "2026-03", "entity": 5}, "entity must be string"),
        ({"period": "2026-03", "invoice_date": "2026-02-30"}, "invoice_date must be an RFC 3339 date"),
        ({"period": "2026-03", "extra": 1}, "unknown property 'extra'"),
    ]:
        with pytest.raises(BadQuery, match=problem):
            check_body(RUN_REQUEST, body)
