"""The metering store has one writer (`gateway.apply.store_series`): E66 series and heat readings alike become the
next version of their period and are announced on `metering.received`; re-importing heat readings changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

import gateway.apply as apply
from gateway.cli import main
from gateway.rating.heat import import_heat_csv
from gateway.store.tables import MeteringSeriesRow
from outbox.schema import outbox_message
from tests.support.rating_store import HEAT_POINT

START = datetime(2025, 10, 1, tzinfo=UTC)


def _csv(tmp_path: Path, name: str, kwh: list[str], start: datetime = START) -> Path:
    rows = ["start_utc,end_utc,kwh"]
    for h, value in enumerate(kwh):
        a, b = start + timedelta(hours=h), start + timedelta(hours=h + 1)
        rows.append(f"{a.isoformat()},{b.isoformat()},{value}")
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n")
    return path


def _stored(engine: Engine) -> list[tuple[datetime, int]]:
    with Session(engine) as s:
        return [(r.period_start.astimezone(UTC), r.version) for r in s.execute(
            select(MeteringSeriesRow).order_by(col(MeteringSeriesRow.id))).scalars()]


def _announcements(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.execute(select(func.count()).select_from(outbox_message)
                             .where(outbox_message.c.topic == apply.TOPIC_METERING)).scalar_one())


def test_importing_the_same_heat_readings_again_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    readings = _csv(tmp_path, "october.csv", ["2.5"] * 24)
    first = import_heat_csv(engine, readings, HEAT_POINT)
    assert [s["version"] for s in first] == [1]
    for _ in range(2):
        assert import_heat_csv(engine, readings, HEAT_POINT) == []
    assert _stored(engine) == [(START, 1)] and _announcements(engine) == 1

    corrected = _csv(tmp_path, "october-corrected.csv", ["2.5"] * 23 + ["2.6"])
    assert [s["version"] for s in import_heat_csv(engine, corrected, HEAT_POINT)] == [2]
    assert import_heat_csv(engine, corrected, HEAT_POINT) == []
    # Back to the first readings: they differ from the latest version, so they are a third one.
    assert [s["version"] for s in import_heat_csv(engine, readings, HEAT_POINT)] == [3]
    assert _announcements(engine) == 3


def test_only_the_changed_series_of_a_file_become_new_versions(engine: Engine, tmp_path: Path) -> None:
    later = START + timedelta(hours=30)  # a gap: two series in one file
    both = tmp_path / "both.csv"
    both.write_text(_csv(tmp_path, "a.csv", ["1"] * 3).read_text()
                    + "\n".join(_csv(tmp_path, "b.csv", ["4"] * 3, later).read_text().splitlines()[1:]) + "\n")
    assert [s["version"] for s in import_heat_csv(engine, both, HEAT_POINT)] == [1, 1]
    changed = both.read_text().replace(",4\n", ",5\n", 1)
    both.write_text(changed)
    stored = import_heat_csv(engine, both, HEAT_POINT)
    assert [(s["start"], s["version"]) for s in stored] == [(later.isoformat(), 2)]


def test_heat_readings_go_through_the_same_writer_as_metering_messages(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = apply.store_series

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(apply, "store_series", counting)
    import gateway.rating.heat as heat

    monkeypatch.setattr(heat, "store_series", counting)
    import_heat_csv(engine, _csv(tmp_path, "x.csv", ["1"] * 2), HEAT_POINT)
    assert calls == [1]


def test_the_heat_import_command_says_when_nothing_changed(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    assert main(["migrate"]) == 0
    readings = str(_csv(tmp_path, "october.csv", ["2.5"] * 4))
    capsys.readouterr()
    assert main(["heat", "import", readings, "--accounting-point", HEAT_POINT]) == 0
    assert "version 1" in capsys.readouterr().out
    assert main(["heat", "import", readings, "--accounting-point", HEAT_POINT]) == 0
    assert "nothing stored" in capsys.readouterr().out
