"""`gateway prices|products|rate|heat …` as a user runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from gateway import cli
from gateway.rating.core import Grid
from gateway.rating.core.calendar import local_midnight_utc
from gateway.rating.service import rate_accounting_point
from gateway.store.db import make_engine
from tests.support.rating_store import (
    DEMO_CATALOGUE,
    HEAT_POINT,
    OTHER_POINT,
    POINT,
    add_agreement,
    add_master_data,
    add_metering,
    price_csv,
    random_prices,
)


def gateway(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> bool:
    return err.startswith("gateway: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.fixture
def db(migrated_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", migrated_database_url)
    capsys.readouterr()
    return migrated_database_url


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_load_import_assign_rate_and_record(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = gateway(capsys, "products", "load", str(DEMO_CATALOGUE))
    assert code == 0 and "loaded as version 1" in out
    code, out, _ = gateway(capsys, "products", "load", str(DEMO_CATALOGUE))
    assert code == 0 and "unchanged; still version 1" in out

    grid = Grid.for_local_dates(date(2026, 1, 1), date(2026, 2, 1), 15)
    prices = write(tmp_path, "jan.csv", price_csv(grid.start, random_prices(np.random.default_rng(1), grid.n)))
    code, out, _ = gateway(capsys, "prices", "import", prices)
    assert code == 0 and f"{grid.n} new, 0 changed" in out
    code, out, _ = gateway(capsys, "prices", "import", prices)
    assert code == 0 and f"0 new, 0 changed (new version), {grid.n} unchanged" in out

    engine = make_engine(db)
    with Session(engine) as s, s.begin():  # network products go to points an E58 announced
        add_master_data(s, POINT)
        add_master_data(s, OTHER_POINT)
    code, out, _ = gateway(capsys, "products", "assign", POINT, "--product", "SV-AIKA", "--from", "2025-06-01")
    assert code == 0 and "1 assignment(s) stored" in out
    assignments = write(tmp_path, "assign.csv", "accounting_point,product_code,valid_from,valid_to\n"
                        f"{POINT},SV-AIKA,2025-06-01,\n{OTHER_POINT},SV-YLEIS,2025-01-01,2026-01-15\n")
    code, out, _ = gateway(capsys, "products", "assign", "--file", assignments)
    assert code == 0 and "1 assignment(s) stored, 1 already present" in out
    code, out, _ = gateway(capsys, "products", "list", "--json")
    listed = json.loads(out)
    assert {(r["accounting_point"], r["product_code"], r["last_day"]) for r in listed} == {
        (POINT, "SV-AIKA", None), (OTHER_POINT, "SV-YLEIS", "2026-01-15")}

    with Session(engine) as s, s.begin():
        add_agreement(s, POINT, "EM-SPOT", date(2025, 6, 1))
        add_metering(s, POINT, grid.start, np.random.default_rng(2).integers(0, 900_000, grid.n))

    code, out, _ = gateway(capsys, "rate", "--accounting-point", POINT, "--from", "2026-01-01", "--to", "2026-01-31",
                           "--json")
    report = json.loads(out)
    expected = rate_accounting_point(engine, POINT, date(2026, 1, 1), date(2026, 2, 1))
    assert code == 0 and Decimal(report["total"]) == sum(ln.amount for ln in expected)
    assert len(report["lines"]) == len(expected) and report["recorded_revision"] is None

    code, out, _ = gateway(capsys, "rate", "--accounting-point", POINT, "--from", "2026-01-01", "--to", "2026-01-31")
    assert code == 0 and "spot_energy" in out and "electricity_tax" in out and "total (VAT 0)" in out
    code, out, _ = gateway(capsys, "rate", "--accounting-point", POINT, "--from", "2026-01-01", "--to", "2026-01-31",
                           "--record")
    assert code == 0 and "recorded as revision 1" in out
    code, out, _ = gateway(capsys, "rate", "--accounting-point", POINT, "--from", "2026-01-01", "--to", "2026-01-31",
                           "--record")
    assert code == 0 and "unchanged (no delta)" in out
    engine.dispose()


def test_heat_import_then_rate(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gateway(capsys, "products", "load", str(DEMO_CATALOGUE))
    code, _, _ = gateway(capsys, "products", "assign", HEAT_POINT, "--product", "KL-KAUSI", "--from", "2025-01-01",
                         "--flow-m3h", "0.2")
    assert code == 0
    start = local_midnight_utc(date(2026, 3, 1))
    hours = int((local_midnight_utc(date(2026, 4, 1)) - start) / timedelta(hours=1))  # 743: DST spring
    rows = ["start_utc,end_utc,mwh"] + [
        f"{(start + timedelta(hours=h)).isoformat()},{(start + timedelta(hours=h + 1)).isoformat()},0.004"
        for h in range(hours)
    ]
    readings = write(tmp_path, "heat.csv", "\n".join(rows) + "\n")
    code, out, _ = gateway(capsys, "heat", "import", readings, "--accounting-point", HEAT_POINT)
    assert code == 0 and "version 1" in out
    code, out, _ = gateway(capsys, "heat", "import", readings, "--accounting-point", HEAT_POINT)
    assert code == 0 and "nothing stored" in out  # the same readings again change nothing
    code, out, _ = gateway(capsys, "heat", "import", write(tmp_path, "heat-corrected.csv", "\n".join(rows) + "\n"),
                           "--accounting-point", HEAT_POINT)
    assert code == 0 and "nothing stored" in out, "whatever the file is called"

    code, out, _ = gateway(capsys, "rate", "--accounting-point", HEAT_POINT, "--from", "2026-03-01", "--to",
                           "2026-03-31", "--json")
    lines = {ln["component"]: ln for ln in json.loads(out)["lines"]}
    assert code == 0 and hours == 743
    assert Decimal(lines["energy_winter"]["quantity"]) == Decimal("2.972")  # 743 × 0.004 MWh
    assert Decimal(lines["energy_winter"]["amount"]) == Decimal("273.42")  # × 92.00 €/MWh
    assert Decimal(lines["basic_fee"]["amount"]) == Decimal("31.17")  # 2.71 × 138 € / 12


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["products", "assign", POINT, "--product", "NOPE", "--from", "2026-01-01"], "not in the active catalogue"),
        (["products", "assign", "123", "--product", "SV-AIKA", "--from", "2026-01-01"], "not a valid GSRN"),
        (["products", "assign", POINT, "--product", "SV-AIKA"], "needs GSRN --product CODE --from DATE"),
        (["products", "load", "/nonexistent/catalogue.toml"], "cannot read"),
        (["prices", "import", "/nonexistent/prices.csv"], "cannot read"),
        (["rate", "--accounting-point", OTHER_POINT, "--from", "2026-01-01", "--to", "2026-01-31"],
         "no agreement or product assignment"),
        (["rate", "--accounting-point", OTHER_POINT, "--from", "2026-01-31", "--to", "2026-01-01"],
         "--to must not be before --from"),
        (["heat", "import", "{fixtures}/prices/prices_fi_2023-11-01.csv", "--accounting-point", HEAT_POINT],
         "the header must be start_utc,end_utc,kwh"),
        (["prices", "import", "{fixtures}/prices/invalid_document_type_a65.xml"], "is not day-ahead prices"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_status_2(
    db: str, capsys: pytest.CaptureFixture[str], argv: Sequence[str], message: str
) -> None:
    gateway(capsys, "products", "load", str(DEMO_CATALOGUE))
    fixtures = str(Path(__file__).resolve().parents[1] / "fixtures")
    code, _, err = gateway(capsys, *(a.replace("{fixtures}", fixtures) for a in argv))
    assert code == 2 and message in err and one_line_error(err), err


def test_a_held_period_exits_with_status_3(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    gateway(capsys, "products", "load", str(DEMO_CATALOGUE))
    engine = make_engine(db)
    grid = Grid.for_local_dates(date(2026, 1, 1), date(2026, 2, 1), 60)
    with Session(engine) as s, s.begin():
        add_master_data(s, OTHER_POINT)
        add_agreement(s, OTHER_POINT, "EM-KIINTEA", date(2025, 1, 1))
        add_metering(s, OTHER_POINT, grid.start, [1_000_000] * (grid.n - 24), minutes=60)  # last day missing
    engine.dispose()
    code, _, err = gateway(capsys, "rate", "--accounting-point", OTHER_POINT, "--from", "2026-01-01", "--to",
                           "2026-01-31")
    assert code == 3 and "24 missing interval(s)" in err and one_line_error(err)


def test_a_date_that_is_not_a_date_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args(["rate", "--accounting-point", POINT, "--from", "1.1.2026", "--to", "2026-01-31"])
    assert exit_info.value.code == 2 and "is not a date (YYYY-MM-DD)" in capsys.readouterr().err


def test_a_network_product_for_a_point_no_e58_announced_needs_force(db: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    gateway(capsys, "products", "load", str(DEMO_CATALOGUE))
    code, _, err = gateway(capsys, "products", "assign", OTHER_POINT, "--product", "SV-AIKA", "--from", "2026-01-01")
    assert code == 2 and "was never announced by an E58" in err and "--force" in err and one_line_error(err)
    code, out, err = gateway(capsys, "products", "assign", OTHER_POINT, "--product", "SV-AIKA", "--from",
                             "2026-01-01", "--force")
    assert code == 0 and "1 assignment(s) stored" in out
    assert err == (f"gateway: warning: accounting point {OTHER_POINT} was never announced by an E58; its network "
                   "product was assigned anyway (--force)\n")
    # district heating is not in Datahub: no E58 is expected, no warning given
    code, out, err = gateway(capsys, "products", "assign", HEAT_POINT, "--product", "KL-KAUSI", "--from",
                             "2026-01-01", "--flow-m3h", "0.2")
    assert code == 0 and "1 assignment(s) stored" in out and err == ""


def test_rate_without_a_sales_agreement_says_so_and_shows_each_line_period(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway(capsys, "products", "load", str(DEMO_CATALOGUE))
    engine = make_engine(db)
    grid = Grid.for_local_dates(date(2026, 1, 1), date(2026, 2, 1), 60)
    with Session(engine) as s, s.begin():
        add_master_data(s, POINT)
        add_metering(s, POINT, grid.start, [500_000] * grid.n, minutes=60)
    assert gateway(capsys, "products", "assign", POINT, "--product", "SV-AIKA", "--from", "2025-01-01")[0] == 0

    code, out, err = gateway(capsys, "rate", "--accounting-point", POINT, "--from", "2026-01-01", "--to",
                             "2026-01-31", "--json")
    report = json.loads(out)
    assert code == 0 and report["lines"] and all(ln["legal_entity"] != "retail" for ln in report["lines"])
    assert report["without_sales_agreement"] == [{"from": "2026-01-01", "to": "2026-01-31"}]
    assert err == (f"gateway: warning: accounting point {POINT} has no sales agreement from 2026-01-01 to "
                   "2026-01-31: those days have network lines only, no retail energy\n")

    # an agreement from the 10th: only the first nine days are without one
    with Session(engine) as s, s.begin():
        add_agreement(s, POINT, "EM-KIINTEA", date(2026, 1, 10))
    engine.dispose()
    code, out, err = gateway(capsys, "rate", "--accounting-point", POINT, "--from", "2026-01-01", "--to",
                             "2026-01-31", "--json")
    assert code == 0 and json.loads(out)["without_sales_agreement"] == [{"from": "2026-01-01", "to": "2026-01-09"}]
    assert "from 2026-01-01 to 2026-01-09" in err

    code, out, _ = gateway(capsys, "rate", "--accounting-point", POINT, "--from", "2026-01-01", "--to", "2026-01-31")
    header, *rows = out.splitlines()
    assert "from (Helsinki)" in header and " to " in header
    energy = next(r for r in rows if "EM-KIINTEA" in r and "energy" in r)
    assert "2026-01-10 00:00  2026-02-01 00:00" in energy  # the line's period, local time, end exclusive
    basic = next(r for r in rows if "SV-AIKA" in r and "basic_fee" in r)
    assert "2026-01-01 00:00  2026-02-01 00:00" in basic


def test_a_district_heating_point_without_agreement_is_not_flagged(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    gateway(capsys, "products", "load", str(DEMO_CATALOGUE))
    gateway(capsys, "products", "assign", HEAT_POINT, "--product", "KL-KAUSI", "--from", "2025-01-01",
            "--flow-m3h", "0.2")
    grid = Grid.for_local_dates(date(2026, 3, 1), date(2026, 4, 1), 60)
    engine = make_engine(db)
    with Session(engine) as s, s.begin():
        add_metering(s, HEAT_POINT, grid.start, [4_000_000] * grid.n, minutes=60)
    engine.dispose()
    code, out, err = gateway(capsys, "rate", "--accounting-point", HEAT_POINT, "--from", "2026-03-01", "--to",
                             "2026-03-31", "--json")
    assert code == 0 and json.loads(out)["without_sales_agreement"] == [] and err == "", err
