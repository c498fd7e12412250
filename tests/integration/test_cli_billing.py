"""`gateway bill|invoices|customers …` as a user runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from gateway import cli
from gateway.domain.identifiers import make_gsrn
from gateway.rating.core.calendar import local_midnight_utc
from gateway.store.db import make_engine
from tests.support.billing_store import APRIL, MARCH, add_billable_point
from tests.support.rating_store import DEMO_CATALOGUE, add_metering

HEAT = make_gsrn("64300777000000001")


def gateway(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> bool:
    return err.startswith("gateway: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.fixture
def db(migrated_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", migrated_database_url)
    assert cli.main(["products", "load", str(DEMO_CATALOGUE)]) == 0
    capsys.readouterr()
    return migrated_database_url


def test_customers_add_ties_a_heat_point_and_bill_exits_0_while_reporting_what_it_held(
        db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = gateway(capsys, "customers", "add", "--name", "Asunto Oy Esimerkki", "--type", "business",
                           "--business-id", "2077474-0", "--street", "Lämpökuja 5", "--postcode", "00300",
                           "--city", "Helsinki", "--customer-number", "KL-7")
    assert code == 0 and out.startswith("customer 1 (Asunto Oy Esimerkki) stored")
    assert gateway(capsys, "customers", "add", "--name", "Asunto Oy Esimerkki", "--type", "business",
                   "--business-id", "2077474-0", "--street", "Lämpökuja 5", "--postcode", "00300",
                   "--city", "Helsinki", "--customer-number", "KL-7")[1].startswith("customer 1 (Asunto Oy Esimerkki) "
                                                                                   "unchanged")
    code, _, _ = gateway(capsys, "products", "assign", HEAT, "--product", "KL-KUUKAUSI", "--from", "2025-01-01",
                         "--flow-m3h", "1.2", "--customer", "1")
    assert code == 0
    engine = make_engine(db)
    with Session(engine) as s, s.begin():
        add_billable_point(s, make_gsrn("64300777000000002"), customer=1)
        add_billable_point(s, make_gsrn("64300777000000003"), customer=2, street=None)
        start = local_midnight_utc(MARCH)
        hours = int((local_midnight_utc(APRIL) - start).total_seconds() // 3600)
        add_metering(s, HEAT, start, [30_000_000] * hours, minutes=60)
    code, out, err = gateway(capsys, "bill", "--period", "2026-03", "--invoice-date", "2026-04-02", "--json")
    report = json.loads(out)
    assert code == 0 and err == ""  # no progress bar when stderr is not a terminal
    assert {e: s["invoices"] for e, s in report["summary"].items()} == {"distribution": 1, "heating": 1, "retail": 1}
    assert [h["reason"] for h in report["held"]] == ["customer has no address (street, postcode and city are "
                                                     "needed)"] * 2
    code, out, _ = gateway(capsys, "bill", "--period", "2026-03")
    assert code == 0 and "already billed: 3" in out and "held: 2" in out


def test_export_writes_one_file_per_document_with_the_same_stem_in_every_format(
        db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    engine = make_engine(db)
    with Session(engine) as s, s.begin():
        for n in range(3):
            add_billable_point(s, make_gsrn(f"6430077700000001{n}"), customer=n)
    assert gateway(capsys, "bill", "--period", "2026-03", "--dry-run")[1].count("(draft)") == 6
    assert gateway(capsys, "invoices", "export", "--format", "json", "--out", str(tmp_path / "none"))[1].startswith(
        "0 file(s)")
    assert gateway(capsys, "bill", "--period", "2026-03", "--invoice-date", "2026-04-02")[0] == 0
    stems = {}
    for fmt, ext in (("finvoice", ".xml"), ("pdf", ".pdf"), ("json", ".json")):
        code, out, _ = gateway(capsys, "invoices", "export", "--format", fmt, "--out", str(tmp_path / fmt))
        files = sorted((tmp_path / fmt).iterdir())
        assert code == 0 and out.startswith("6 file(s)") and {f.suffix for f in files} == {ext}
        stems[fmt] = [f.stem for f in files]
    assert stems["finvoice"] == stems["pdf"] == stems["json"]
    assert stems["pdf"][:2] == ["distribution-200000001", "distribution-200000002"]
    data = json.loads((tmp_path / "json" / "retail-100000001.json").read_text())
    assert data["number"] == "100000001" and data["lines"][0]["source"]["rating_result_id"]
    code, out, _ = gateway(capsys, "invoices", "export", "--format", "pdf", "--out", str(tmp_path / "retail"),
                           "--entity", "retail", "--period", "2026-03")
    assert out.startswith("3 file(s)")
    code, out, _ = gateway(capsys, "invoices", "list", "--period", "2026-03", "--json")
    assert len(json.loads(out)) == 6


@pytest.mark.parametrize(("argv", "message"), [
    (["bill", "--period", "2026-13"], "is not a month"),
    (["bill", "--period", "2026-03", "--entity", "gas"], "not in the catalogue"),
    (["customers", "add", "--name", "X Oy", "--type", "business", "--business-id", "1234567-2", "--street", "a 1",
      "--postcode", "00100", "--city", "Helsinki"], "not a valid Finnish business ID"),
    (["customers", "add", "--name", "Maija", "--business-id", "2077474-0", "--street", "a 1", "--postcode",
      "00100", "--city", "Helsinki"], "a consumer has no business ID"),
    (["customers", "add", "--name", "Maija", "--street", "a 1", "--postcode", "00100", "--city", "Helsinki",
      "--channel", "e_invoice"], "needs --e-invoice-address"),
    (["products", "assign", HEAT, "--product", "KL-KUUKAUSI", "--from", "2025-01-01", "--customer", "99"],
     "customer 99 does not exist"),
])
def test_bad_input_is_one_line_and_status_2(db: str, capsys: pytest.CaptureFixture[str], argv: list[str],
                                            message: str) -> None:
    code, _, err = gateway(capsys, *argv)
    assert code == 2 and one_line_error(err) and message in err
