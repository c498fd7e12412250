"""`gateway payments|dunning …` as a user runs them, on SQLite and PostgreSQL: one compact JSON object per line
per imported file, exit 2 with one line for a file that is not a bank file (the others still imported), the
unmatched queue as a JSON list, manual allocation, dunning and its tasks."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from gateway import cli
from gateway.payments.bank_samples import SampleEntry, SamplePart
from gateway.store.db import make_engine
from tests.support.rating_store import DEMO_CATALOGUE
from tests.support.receivables import add_customer, add_invoice, camt054

BANK = Path(__file__).resolve().parents[1] / "fixtures" / "bank"


def gateway(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(migrated_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", migrated_database_url)
    capsys.readouterr()
    return migrated_database_url


def test_import_prints_one_json_line_per_file_and_refuses_a_file_that_is_not_a_bank_file(
        db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # No catalogue loaded: our own account is unknown too, and every entry waits in the queue with its reason.
    files = [str(BANK / "camt054-valid-cases.xml"), str(BANK / "invalid-not-a-bank-file.csv"),
             str(BANK / "ktl-valid-cases.ktl")]
    code, out, err = gateway(capsys, "payments", "import", "--json", *files)
    lines = out.splitlines()
    assert code == 2 and len(lines) == 2 and all(" " not in line for line in lines)
    assert [json.loads(line) for line in lines] == [
        {"file": files[0], "format": "camt.054", "entries": 7, "allocated": 0, "unmatched": 7,
         "already_imported": 0},
        {"file": files[2], "format": "ktl", "entries": 3, "allocated": 0, "unmatched": 3, "already_imported": 0}]
    assert err.count("\n") == 1 and "invalid-not-a-bank-file.csv" in err and "BANK.UNKNOWN_FORMAT" in err
    code, out, _ = gateway(capsys, "payments", "import", "--json", files[0])
    assert code == 0 and json.loads(out)["already_imported"] == 7
    code, out, _ = gateway(capsys, "payments", "unmatched", "--json")
    queue = json.loads(out)
    assert code == 0 and len(queue) == 10 and {q["reason"] for q in queue} == {"unknown_account"}
    assert set(queue[0]) == {"id", "amount", "reference", "account", "reason"}


def test_allocate_dunning_and_tasks(db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["products", "load", str(DEMO_CATALOGUE)]) == 0
    engine = make_engine(db)
    with Session(engine) as s, s.begin():
        customer = add_customer(s, 1)
        add_invoice(s, "100000001", "620.00", date(2026, 4, 16), customer)
    engine.dispose()
    wrong = tmp_path / "wrong.xml"
    wrong.write_bytes(camt054([SampleEntry("W1", Decimal("100.00"), date(2026, 4, 20),
                                           parts=[SamplePart("RF18539007547034")])]))
    code, out, _ = gateway(capsys, "payments", "import", str(wrong))
    assert code == 0 and "1 unmatched" in out
    code, out, _ = gateway(capsys, "payments", "unmatched", "--json")
    [item] = json.loads(out)
    assert item["reason"] == "no_open_invoice"
    code, _, err = gateway(capsys, "payments", "allocate", str(item["id"]), "--invoice", "999")
    assert code == 2 and err.startswith("gateway: no invoice 999") and err.count("\n") == 1
    code, out, _ = gateway(capsys, "payments", "allocate", str(item["id"]), "--invoice", "100000001",
                           "--amount", "100")
    assert code == 0 and "now partially_paid" in out
    code, out, _ = gateway(capsys, "dunning", "run", "--date", "2026-05-01", "--json")
    report = json.loads(out)
    assert code == 0 and [r["fee"] for r in report["reminders"]] == ["5.00"]
    assert [t["kind"] for t in report["tasks"]] == ["send_disconnection_notice"]
    code, out, _ = gateway(capsys, "dunning", "run", "--date", "2026-05-01", "--json")
    assert json.loads(out)["reminders"] == [] and json.loads(out)["tasks"] == []  # idempotent
    code, out, _ = gateway(capsys, "dunning", "tasks", "--json")
    [task] = json.loads(out)
    code, _, err = gateway(capsys, "dunning", "task-done", str(task["id"]), "--date", "2026-04-20")
    assert code == 2 and "at the earliest" in err
    assert gateway(capsys, "dunning", "task-done", str(task["id"]), "--date", "2026-05-02")[0] == 0
    code, out, _ = gateway(capsys, "dunning", "run", "--date", "2026-05-10", "--json")
    assert json.loads(out)["tasks"] == []  # the warning only 14 days after the notice
    code, out, _ = gateway(capsys, "dunning", "run", "--date", "2026-05-16", "--json")
    [warning] = json.loads(out)["tasks"]
    assert (warning["kind"], warning["earliest"]) == ("send_disconnection_warning", "2026-05-16")
    code, out, _ = gateway(capsys, "payments", "summary")
    assert code == 0 and "in_collection         1 invoices" in out  # handed over 14 days after the reminder
