"""The support read models on SQLite and PostgreSQL: message search and keyset pages, timelines, errors with
line and column, lineage both ways, what-if against `gateway rate`."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.cli import main as cli_main
from gateway.queries import entities, lineage
from gateway.queries.detail import message_detail, raw_document
from gateway.queries.messages import MessageFilter, MessageRef, search_messages
from gateway.queries.pagination import BadQuery
from gateway.queries.whatif import what_if
from gateway.rating.core import vat_breakdown
from gateway.rating.service import line_from_json
from gateway.receive import CHANNEL_DATAHUB, Receiver
from gateway.store.db import make_engine
from mappings import samples
from tests.support.databases import BACKENDS, fresh_database_url
from tests.support.support_data import MONTH, NEXT_MONTH, POINT, Scenario, agreement_message, populate


@pytest.fixture(scope="module", params=[pytest.param(b, marks=[getattr(pytest.mark, b)]) for b in BACKENDS])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Engine, Scenario, str]]:
    work = tmp_path_factory.mktemp(f"support-{request.param}")
    with fresh_database_url(request.param, work, migrated=True) as url:
        engine = make_engine(url)
        yield engine, populate(engine, work), url
        engine.dispose()


def _all(session: Session, f: MessageFilter, limit: int) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(200):
        page = search_messages(session, f, limit=limit, cursor=cursor)
        ids += [m.id for m in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return ids
    raise AssertionError("paging did not end")


def test_keyset_pages_list_every_message_once_newest_first(store: tuple[Engine, Scenario, str]) -> None:
    engine, scenario, _ = store
    with Session(engine) as s:
        everything = _all(s, MessageFilter(), 500)
        assert set(scenario.ids.values()) <= set(everything)
        assert len(everything) == len(set(everything))
        for size in (1, 7, 16):
            assert _all(s, MessageFilter(), size) == everything
        times = [m.at for m in search_messages(s, MessageFilter(), limit=500).items]
        assert times == sorted(times, reverse=True)
        with pytest.raises(BadQuery):
            search_messages(s, MessageFilter(), limit=5, cursor="garbage")


def test_each_filter_finds_what_it_names(store: tuple[Engine, Scenario, str]) -> None:
    engine, scenario, _ = store
    ids = scenario.ids
    with Session(engine) as s:
        by_point = set(_all(s, MessageFilter(gsrn=POINT), 10))
        assert {ids["e58"], ids["f04"], ids["e66-2026-03-05"], ids["e66-correction"], ids["event-invalid"]} <= by_point
        assert ids["e58-other"] not in by_point and ids["outbound"] not in by_point
        assert _all(s, MessageFilter(gsrn=samples.gsrn(2)), 10) == [ids["outbound"], ids["e58-other"]]
        assert _all(s, MessageFilter(message_id="e66-support-2026-03-05"), 10) == [ids["e66-2026-03-05"]]
        assert _all(s, MessageFilter(message_id="f04-support-outbound"), 10) == [ids["outbound"]]
        txn = message_detail(s, MessageRef.parse(ids["e66-2026-03-07"]))
        assert txn is not None
        transaction_id = txn["transaction_rows"][0]["transaction_id"]
        assert _all(s, MessageFilter(transaction_id=transaction_id), 10) == [ids["e66-2026-03-07"]]
        from_dso = set(_all(s, MessageFilter(party=samples.OUR_DSO_GLN), 10))
        assert from_dso == {ids["schema-invalid"], ids["event-invalid"]}
        assert set(_all(s, MessageFilter(status="rejected"), 10)) == {
            ids["schema-invalid"], ids["event-invalid"], ids["f01-invalid"]}
        assert _all(s, MessageFilter(status="parked"), 10) == [ids["parked"]]
        assert set(_all(s, MessageFilter(document_type="E58"), 10)) == {ids["e58"], ids["e58-other"]}
        assert _all(s, MessageFilter(direction="file"), 10) == [ids["prices"], ids["catalogue"]]
        assert _all(s, MessageFilter(document_type="CSV"), 10) == [ids["prices"]]
        future = datetime.now(UTC) + timedelta(days=1)
        assert _all(s, MessageFilter(since=future), 10) == []
        assert len(_all(s, MessageFilter(until=future, direction="inbound"), 10)) == len(
            [k for k in ids.values() if k.startswith(("in-", "bank-"))])  # received messages and bank files


def test_a_schema_error_keeps_its_line_and_column_and_the_timeline_says_what_happened(
        store: tuple[Engine, Scenario, str]) -> None:
    engine, scenario, _ = store
    with Session(engine) as s:
        bad = message_detail(s, MessageRef.parse(scenario.ids["schema-invalid"]))
        assert bad is not None and bad["level"] == "schema" and bad["status"] == "rejected"
        assert bad["errors"][0]["line"] == 80 and "minInclusive" in bad["errors"][0]["text"]
        assert [step["kind"] for step in bad["timeline"]] == ["received", "rejected"]
        raw = raw_document(s, MessageRef.parse(scenario.ids["schema-invalid"]))
        assert raw is not None and b"<elm:QTY>-1.5</elm:QTY>" in raw.data.splitlines()[79]

        event = message_detail(s, MessageRef.parse(scenario.ids["event-invalid"]))
        assert event is not None
        kinds = [step["kind"] for step in event["timeline"]]
        assert kinds[:3] == ["received", "validated", "rejected"] and "ack_queued" in kinds
        assert event["acknowledgement"]["direction"] == "sent" and "BA02" in event["acknowledgement"]["xml"]

        pulled = message_detail(s, MessageRef.parse(scenario.ids["e66-2026-03-03"]))
        assert pulled is not None
        assert [step["kind"] for step in pulled["timeline"]] == ["received", "validated", "stored", "dequeued"]
        assert pulled["timeline"][-1]["recorded"] is True

        parked = message_detail(s, MessageRef.parse(scenario.ids["parked"]))
        assert parked is not None and "parked" in [step["kind"] for step in parked["timeline"]]

        out = message_detail(s, MessageRef.parse(scenario.ids["outbound"]))
        assert out is not None
        assert [step["kind"] for step in out["timeline"]] == ["queued", "dead_lettered"]
        assert "unreachable" in out["timeline"][-1]["detail"]["last_error"]


def test_identity_codes_are_masked_in_stored_views(store: tuple[Engine, Scenario, str]) -> None:
    engine, scenario, _ = store
    with Session(engine) as s:
        customers = entities.list_customers(s, limit=10).items
        assert customers and all(c["identification"] == "131052-****" for c in customers)
        assert "131052-308" not in json.dumps(customers)
        invalid = message_detail(s, MessageRef.parse(scenario.ids["f01-invalid"]))
        assert "131052-308" not in json.dumps(invalid)
        view = entities.customer(s, int(customers[0]["id"]))
        assert view is not None and view.to_json(reveal=True)["identification"] == "131052-308T"


def test_lineage_runs_from_a_message_to_its_ratings_and_back_from_a_rating_to_its_messages(
        store: tuple[Engine, Scenario, str]) -> None:
    engine, scenario, _ = store
    with Session(engine) as s:
        root = lineage.root_node(s, "message", scenario.ids["e66-2026-03-10"])
        assert root is not None
        down = lineage.downstream(s, root)
        kinds = {n.type for n in down.nodes.values()}
        assert {"message", "transaction", "accounting_point", "metering_series"} <= kinds
        # The first version of 10.3. was superseded by the correction before rating: no rating rests on it.
        assert not down.of_type("rating_result")
        corrected = lineage.downstream(s, lineage.root_node(s, "message", scenario.ids["e66-correction"]))  # type: ignore[arg-type]
        ratings = corrected.of_type("rating_result")
        # Both revisions of March rest on it: the late correction after billing changed 20.3., not 10.3.
        assert sorted(n.key for n in ratings) == sorted([str(scenario.rating_id), str(scenario.revised_rating_id)])
        assert any(e.relation == "rated_in" and e.target == ratings[0].id for e in corrected.edges)

        up = lineage.upstream(s, lineage.root_node(s, "rating_result", str(scenario.rating_id)))  # type: ignore[arg-type]
        behind = set(up.message_ids)
        expected = {scenario.ids[f"e66-2026-03-{d:02d}"] for d in range(1, 32) if d != 10}
        assert expected | {scenario.ids["e66-correction"], scenario.ids["e58"], scenario.ids["f04"],
                           scenario.ids["prices"], scenario.ids["catalogue"]} == behind
        series = up.of_type("metering_series")
        assert len(series) == 31 and sum(Decimal(n.data["total"]) for n in series) > 0
        assert json.loads(json.dumps(up.to_json()))["message_ids"] == sorted(behind)


def _rate_json(url: str, start: str, last: str) -> dict[str, object]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli_main(["rate", "--accounting-point", POINT, "--from", start, "--to", last, "--json"])
    assert status == 0, out.getvalue()
    return json.loads(out.getvalue())  # type: ignore[no-any-return]


def test_what_if_totals_equal_gateway_rate_on_each_product(engine: Engine, database_url: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    populate(engine, tmp_path, rate=False)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    with Session(engine) as s:
        result = what_if(s, POINT, MONTH, NEXT_MONTH)
    assert result.current_product == "EM-SPOT" and result.missing_intervals == 0
    products = [p for p in result.products if p.unavailable is None]
    assert {p.product_code for p in products} == {"EM-AIKA", "EM-HYBRIDI", "EM-KAUSI", "EM-KIINTEA", "EM-SPOT"}
    receiver = Receiver(engine, max_bytes=10 * 1024 * 1024)
    for n, cost in enumerate(products):
        # Put the point on this product for the whole period (an F04 update of the same agreement), then rate.
        outcome = receiver.receive(agreement_message(cost.product_code, f"f04-what-if-{n}"),
                                   authenticated_gln=samples.DATAHUB_GLN, channel=CHANNEL_DATAHUB)
        assert outcome.result == "accepted", outcome
        rated = _rate_json(database_url, "2026-03-01", "2026-03-31")
        lines = [line_from_json(d) for d in rated["lines"]]  # type: ignore[attr-defined]
        assert {ln.product_code for ln in lines} == {cost.product_code}
        assert Decimal(str(rated["total"])) == cost.total_excl_vat, cost.product_code
        assert sum((v.vat for v in vat_breakdown(lines)), Decimal("0.00")) == cost.vat, cost.product_code
        assert sum((ln.amount for ln in lines if ln.component == "basic_fee"), Decimal(0)) == cost.basic_fees
        # The monthly rows are the same month here.
        assert sum((m.energy + m.basic_fees for m in cost.months), Decimal(0)) == cost.total_excl_vat
    receiver.close()
    engine.dispose()
