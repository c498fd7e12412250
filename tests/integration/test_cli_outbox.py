"""`gateway migrate`, `gateway outbox status|replay|purge` as a user runs them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session

from gateway.cli import main
from gateway.store.db import make_engine
from outbox import HandlerRegistry, enqueue
from outbox.worker import Worker


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_migrate_status_replay(database_url: str, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    code, out, _ = _run(capsys, "migrate")
    assert code == 0 and "empty ->" in out

    engine = make_engine(database_url)
    with Session(engine) as s, s.begin():
        enqueue(s, "broken", {}, max_attempts=1)
    registry = HandlerRegistry()
    registry.register("broken", lambda s, m: (_ for _ in ()).throw(RuntimeError("no route to partner")))
    Worker(engine, registry).drain()

    code, out, _ = _run(capsys, "outbox", "status", "--json")
    report = json.loads(out)
    assert code == 0 and report["topics"][0]["dead"] == 1
    assert "no route to partner" in report["dead_letters"][0]["last_error"]

    code, _, err = _run(capsys, "outbox", "replay")
    assert code == 2 and "--all-dead" in err
    code, out, err = _run(capsys, "outbox", "replay", "999")
    assert code == 1 and "replayed 0" in out
    code, out, _ = _run(capsys, "outbox", "replay", "--all-dead")
    assert code == 0 and "replayed 1" in out
    code, out, _ = _run(capsys, "outbox", "status")
    assert code == 0 and "broken" in out
    code, out, _ = _run(capsys, "outbox", "purge", "--older-than-days", "0", "--archive")
    assert code == 0 and "archived 0" in out  # the replayed message is pending, not processed
    engine.dispose()


def test_unreadable_configuration_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--config", "/nonexistent/gateway.toml", "outbox", "status")
    assert code == 2 and "cannot read configuration" in err
