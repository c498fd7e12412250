"""Invoicing as support staff and the billing core see it, on SQLite and PostgreSQL: the invoice search and its
links both ways, the explanation of every line back to its E66 positions, prices, taxes and messages, what a
correction changed and which message caused it, lineage both ways, and released documents in the message log.

The store is the support scenario: March 2026 billed (retail and distribution), then a late, estimated E66 for
20.3. re-rated it and the billing consumer issued a credit note and a corrected invoice for each entity.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.billing.core.reference import format_national, rf_reference
from gateway.queries import explanation, invoices, lineage
from gateway.queries.detail import message_detail, raw_document
from gateway.queries.invoices import InvoiceFilter
from gateway.queries.messages import MessageFilter, MessageRef, search_messages
from gateway.queries.pagination import BadQuery
from gateway.queries.rawxml import positions, pretty
from gateway.store.db import make_engine
from tests.support.databases import BACKENDS, fresh_database_url
from tests.support.support_data import CORRECTED_DAY, POINT, Scenario, populate


@pytest.fixture(scope="module", params=[pytest.param(b, marks=[getattr(pytest.mark, b)]) for b in BACKENDS])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Engine, Scenario]]:
    work = tmp_path_factory.mktemp(f"invoices-{request.param}")
    with fresh_database_url(request.param, work, migrated=True) as url:
        engine = make_engine(url)
        yield engine, populate(engine, work)
        engine.dispose()


def _ids(page: Any) -> list[int]:
    return [item["id"] for item in page.items]


def _all(session: Session, f: InvoiceFilter, limit: int) -> list[int]:
    found: list[int] = []
    cursor = None
    while True:
        page = invoices.list_invoices(session, f, limit=limit, cursor=cursor)
        found += _ids(page)
        cursor = page.next_cursor
        if cursor is None:
            return found


def test_the_invoice_search_finds_what_each_filter_names(store: tuple[Engine, Scenario]) -> None:
    engine, sc = store
    inv = sc.invoices
    with Session(engine) as s:
        everything = _all(s, InvoiceFilter(), 500)
        assert sorted(everything, reverse=True) == everything == sorted(inv.values(), reverse=True)
        assert _all(s, InvoiceFilter(), 1) == everything  # keyset pages: each once, in order
        retail = invoices.invoice_summary(s, inv["retail"])
        assert retail is not None
        assert _all(s, InvoiceFilter(number=retail["number"]), 10) == [inv["retail"]]
        # A reference as a payer writes it: grouped, or its RF form.
        assert _all(s, InvoiceFilter(reference=format_national(retail["reference"])), 10) == [inv["retail"]]
        assert _all(s, InvoiceFilter(reference=rf_reference(retail["reference"])), 10) == [inv["retail"]]
        with pytest.raises(BadQuery, match="check digits"):
            InvoiceFilter(reference=retail["reference"][:-1] + str((int(retail["reference"][-1]) + 1) % 10))
        assert set(_all(s, InvoiceFilter(kind="credit_note"), 10)) == {inv["retail-credit-note"],
                                                                       inv["distribution-credit-note"]}
        assert set(_all(s, InvoiceFilter(entity="distribution"), 10)) == {
            inv["distribution"], inv["distribution-credit-note"], inv["distribution-corrected"]}
        assert set(_all(s, InvoiceFilter(payment_status="credited"), 10)) == {inv["retail"], inv["distribution"]}
        assert set(_all(s, InvoiceFilter(run_id=sc.run_id), 10)) == {inv["retail"], inv["distribution"]}
        assert len(_all(s, InvoiceFilter(customer_id=sc.customer_id, accounting_point=POINT, status="issued",
                                         period=invoices.parse_month("2026-03")), 10)) == 6
        assert _all(s, InvoiceFilter(period=invoices.parse_month("2026-04")), 10) == []
        assert _all(s, InvoiceFilter(customer_name="meikäläinen"), 10) == everything
        with pytest.raises(BadQuery):
            InvoiceFilter(payment_status="lost")


def test_an_invoice_links_its_credit_note_and_corrected_invoice_both_ways(store: tuple[Engine, Scenario]) -> None:
    engine, sc = store
    inv = sc.invoices
    with Session(engine) as s:
        original = invoices.invoice(s, inv["retail"])
        note = invoices.invoice(s, inv["retail-credit-note"])
        corrected = invoices.invoice(s, inv["retail-corrected"])
    assert original is not None and note is not None and corrected is not None
    assert [d["id"] for d in original["credit_notes"]] == [inv["retail-credit-note"]]
    assert [d["id"] for d in original["corrected_by"]] == [inv["retail-corrected"]]
    assert note["original_invoice"]["id"] == corrected["original_invoice"]["id"] == inv["retail"]
    assert note["document_type"] == "INV02" and original["document_type"] == "INV01"
    credited = {ln["credits_line_id"] for ln in note["lines"]}
    assert credited == {ln["id"] for ln in original["lines"]}
    assert all(ln["credited_by_line_ids"] for ln in original["lines"])
    assert Decimal(note["total"]) == -Decimal(original["total"])
    assert "e66-support-late-correction" in (note["reason"] or "")
    assert original["documents"]["finvoice"] == f"/api/invoices/{inv['retail']}/finvoice"


def _line(ex: dict[str, Any], component: str) -> dict[str, Any]:
    return next(ln for ln in ex["lines"] if ln["component"] == component)


def test_each_line_is_explained_down_to_its_e66_positions_prices_taxes_and_messages(
        store: tuple[Engine, Scenario]) -> None:
    engine, sc = store
    with Session(engine) as s:
        retail = explanation.explain_invoice(s, sc.invoices["retail"])
        network = explanation.explain_invoice(s, sc.invoices["distribution"])
        assert retail is not None and network is not None
        spot = _line(retail, "spot_energy")
        # The line's quantity is the sum of the E66 positions of its period, one metering version per day.
        assert spot["metering_versions"] == 31 and spot["metering_quantity"] == str(
            Decimal(spot["quantity"]).normalize())
        assert all(m["positions"]["first_seq"] == 1 for m in spot["metering"])
        assert {m["positions"]["count"] for m in spot["metering"]} == {92, 96}  # 29.3. is 23 hours long
        e66s = {sc.ids[f"e66-2026-03-{d:02d}"] for d in range(1, 32) if d != 10} | {sc.ids["e66-correction"]}
        assert e66s | {sc.ids["prices"], sc.ids["f04"]} == set(spot["message_ids"])  # the F04 names the product
        assert spot["spot_prices"]["intervals"] > 0 and [i["id"] for i in spot["spot_prices"]["imports"]] == [
            sc.ids["prices"]]
        assert spot["formula"]["key"] == "spot_energy" and "≈" in spot["formula"]["calculation"]
        fee = _line(retail, "basic_fee")
        assert fee["formula"]["calculation"].startswith("31/31 × ")
        assert fee["tariff"][0]["eur_per_month"] == "3.90" and fee["tariff"][0]["catalogue_version"] == 1
        assert set(fee["message_ids"]) == {sc.ids["catalogue"], sc.ids["f04"]} and fee["metering"] == []
        assert {v["rate"] for v in fee["vat_rows"]} == {"25.5"}

        tax = _line(network, "electricity_tax")
        assert tax["tariff"][0]["total_eur_per_kwh"] == "0.02253" and tax["tariff"][0]["tax_class"] == "1"
        assert sc.ids["e58"] in tax["message_ids"] and sc.ids["catalogue"] in tax["message_ids"]
        assert network["electricity_tax"]["positions"] == [tax["position"]]
        assert Decimal(network["electricity_tax"]["basis_kwh"]) == Decimal(tax["quantity"])
        assert [v["positions"] for v in network["vat"]] == [[ln["position"] for ln in network["lines"]]]
        # Every message named is one the message log can show.
        for message_id in retail["message_ids"] + network["message_ids"]:
            assert message_detail(s, MessageRef.parse(message_id)) is not None, message_id
    json.dumps(retail)  # JSON as it stands


def test_a_correction_says_what_changed_and_which_message_caused_it(store: tuple[Engine, Scenario]) -> None:
    engine, sc = store
    late = sc.ids["e66-late"]
    with Session(engine) as s:
        corrected = explanation.explain_invoice(s, sc.invoices["retail-corrected"])
        note = explanation.explain_invoice(s, sc.invoices["retail-credit-note"])
        original = invoices.invoice(s, sc.invoices["retail"])
        fixed = invoices.invoice(s, sc.invoices["retail-corrected"])
    assert corrected is not None and note is not None and original is not None and fixed is not None
    change = corrected["correction"]
    assert change["message_ids"] == [late]
    [period] = change["periods"]
    assert (period["from_rating"]["id"], period["to_rating"]["id"]) == (sc.rating_id, sc.revised_rating_id)
    assert [c["message_ids"] for c in period["causes"]] == [[late]]
    # The delta lines are exactly what the corrected invoice bills more than the original did.
    assert Decimal(period["delta_total"]) == Decimal(fixed["total_excl_vat"]) - Decimal(original["total_excl_vat"])
    assert {d["component"] for d in period["delta"]} == {"spot_energy", "spot_margin"}
    spot = _line(corrected, "spot_energy")
    assert spot["flags"] == ["estimated"] and spot["quality"]["estimated_intervals"] == 96
    day = next(m for m in spot["metering"] if m["message"] == late)
    assert day["positions"]["estimated"] == 96 and day["version"] == 2
    assert note["correction"]["corrected_invoice"]["id"] == sc.invoices["retail-corrected"]
    assert note["correction"]["message_ids"] == [late]
    credit = _line(note, "spot_energy")
    assert credit["source"] == "credit" and credit["credits"]["invoice_id"] == sc.invoices["retail"]
    assert late not in credit["message_ids"]  # it credits what was billed before the correction


def test_the_positions_an_explanation_names_are_found_in_the_raw_e66(store: tuple[Engine, Scenario]) -> None:
    engine, sc = store
    with Session(engine) as s:
        corrected = explanation.explain_invoice(s, sc.invoices["retail-corrected"])
        assert corrected is not None
        day = next(m for m in _line(corrected, "spot_energy")["metering"] if m["message"] == sc.ids["e66-late"])
        raw = raw_document(s, MessageRef.parse(sc.ids["e66-late"]))
    assert raw is not None and day["period_start"][:10] == "2026-03-19"  # 20.3. local starts 19.3. 22:00Z
    shown = pretty(raw.data, [])
    assert shown is not None
    found = positions("\n".join(line.text for line in shown), day["transaction_id"], 1, 96)
    assert found.found and found.count == 96 and str(found.total) == day["positions"]["quantity"]
    assert found.values[0]["quality"] == "99" and found.values[0]["start"].startswith("2026-03-19T22:00")
    texts = {line.number: line.text for line in shown}
    assert all("QTY" in texts[n] for n in found.value_lines) and len(found.value_lines) == 96
    assert positions("\n".join(line.text for line in shown), "no-such-transaction", 1, 96).found is False
    assert CORRECTED_DAY.day == 20


def test_lineage_runs_from_an_e66_to_the_invoices_it_produced_and_back(store: tuple[Engine, Scenario]) -> None:
    engine, sc = store
    inv = sc.invoices
    with Session(engine) as s:
        down = lineage.downstream(s, lineage.root_node(s, "message", sc.ids["e66-late"]))  # type: ignore[arg-type]
        assert {n.key for n in down.of_type("invoice")} == {str(inv["retail-corrected"]),
                                                           str(inv["distribution-corrected"])}
        assert {f"inv-{inv['retail-corrected']}", f"inv-{inv['distribution-corrected']}"} <= set(down.message_ids)
        assert any(e.relation == "billed_as" for e in down.edges) and any(
            e.relation == "released_as" for e in down.edges)

        first = lineage.downstream(s, lineage.root_node(s, "rating_result", str(sc.rating_id)))  # type: ignore[arg-type]
        assert {n.key for n in first.of_type("invoice")} == {
            str(inv[k]) for k in ("retail", "distribution", "retail-credit-note", "distribution-credit-note")}
        assert any(e.relation == "credited_by" for e in first.edges)

        up = lineage.upstream(s, lineage.root_node(s, "invoice", str(inv["retail-corrected"])))  # type: ignore[arg-type]
        assert sc.ids["e66-late"] in up.message_ids and sc.ids["prices"] in up.message_ids
        assert sc.ids["e66-2026-03-20"] not in up.message_ids  # replaced by the late correction
        assert {n.type for n in up.nodes.values()} >= {"invoice", "invoice_line", "rating_result",
                                                       "metering_series", "message", "agreement"}
        line_id = next(n.key for n in up.of_type("invoice_line") if n.data["component"] == "spot_energy")
        one = lineage.upstream(s, lineage.root_node(s, "invoice_line", line_id))  # type: ignore[arg-type]
        assert [n.key for n in one.of_type("rating_result")] == [str(sc.revised_rating_id)]
        assert lineage.root_node(s, "invoice", "999999") is None


def test_released_documents_are_the_outbound_side_of_the_message_log(store: tuple[Engine, Scenario]) -> None:
    engine, sc = store
    inv = sc.invoices
    with Session(engine) as s:
        outbound = [m.id for m in search_messages(s, MessageFilter(direction="outbound"), limit=50).items]
        assert {f"inv-{i}" for i in inv.values()} <= set(outbound) and sc.ids["outbound"] in outbound
        notes = [m.id for m in search_messages(s, MessageFilter(document_type="INV02"), limit=50).items]
        assert set(notes) == {f"inv-{inv['retail-credit-note']}", f"inv-{inv['distribution-credit-note']}"}
        summary = invoices.invoice_summary(s, inv["retail"])
        assert summary is not None
        assert [m.id for m in search_messages(s, MessageFilter(message_id=summary["number"]), limit=5).items] == [
            f"inv-{inv['retail']}"]
        assert f"inv-{inv['retail']}" in [m.id for m in search_messages(s, MessageFilter(gsrn=POINT), limit=500).items]
        assert search_messages(s, MessageFilter(document_type="INV01", party="6430000000016"), limit=5).items == []
        detail = message_detail(s, MessageRef.parse(f"inv-{inv['retail']}"))
        assert detail is not None and detail["invoice"]["id"] == inv["retail"]
        assert [step["kind"] for step in detail["timeline"]] == ["issued", "released", "credited", "corrected"]
        raw = raw_document(s, MessageRef.parse(f"inv-{inv['retail']}"))
        assert raw is not None and raw.data.startswith(b"<?xml") and b"<Finvoice" in raw.data
        document = invoices.invoice_document(s, inv["retail"], "finvoice")
        assert document is not None and document.data == raw.data
        pdf = invoices.invoice_document(s, inv["retail"], "pdf")
        assert pdf is not None and pdf.data.startswith(b"%PDF")


def test_billing_runs_and_the_customers_invoices_go_to(store: tuple[Engine, Scenario]) -> None:
    engine, sc = store
    with Session(engine) as s:
        runs = invoices.list_billing_runs(s, limit=10).items
        assert [r["id"] for r in runs] == [sc.run_id] and runs[0]["invoices"] == 2 and runs[0]["held"] == 0
        run = invoices.billing_run(s, sc.run_id)
        assert run is not None and run["issued_invoices"] == 2 and run["report"]["period"] == "2026-03"
        assert invoices.list_billing_runs(s, limit=10, period=invoices.parse_month("2026-02")).items == []
        customer = invoices.billing_customer(s, sc.customer_id)
        assert customer is not None and customer["accounting_points"] == [POINT]
        assert sorted(i["id"] for i in customer["invoices"]) == sorted(sc.invoices.values())
        assert customer["datahub_customers"] and "131052" not in json.dumps(customer)
        assert [c["id"] for c in invoices.list_billing_customers(s, limit=5, name="MAIJA").items] == [sc.customer_id]
        assert invoices.billing_customer(s, 999_999) is None
