"""`gateway migrate`, `gateway outbox status|replay|discard|purge` and `gateway worker` as a user runs them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session

from gateway.cli import main
from gateway.events import subscriptions
from gateway.store.db import make_engine
from outbox import HandlerRegistry, enqueue
from outbox.subscriptions import subscribe, subscribed
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
    with engine.connect() as conn:
        assert subscribed(conn) == subscriptions(), "migrate writes the declared consumers"
    with engine.begin() as conn:
        subscribe(conn, "broken", "partner")
    with Session(engine) as s, s.begin():
        enqueue(s, "broken", {}, max_attempts=1)
    registry = HandlerRegistry()
    registry.register("broken", lambda s, m: (_ for _ in ()).throw(RuntimeError("no route to partner")),
                      consumer="partner")
    Worker(engine, registry).drain()

    code, out, _ = _run(capsys, "outbox", "status", "--json")
    report = json.loads(out)
    assert code == 0
    partner = next(c for c in report["consumers"] if c["consumer"] == "partner")
    assert (partner["topic"], partner["dead"]) == ("broken", 1)
    assert "no route to partner" in report["dead_letters"][0]["last_error"]
    assert {c["consumer"] for c in report["consumers"]} >= set(subscriptions()), "idle consumers are listed too"

    code, _, err = _run(capsys, "outbox", "replay")
    assert code == 2 and "--all-dead" in err
    code, out, err = _run(capsys, "outbox", "replay", "999")
    assert code == 1 and "replayed 0" in out
    code, out, _ = _run(capsys, "outbox", "replay", "--all-dead")
    assert code == 0 and "replayed 1" in out
    code, out, _ = _run(capsys, "outbox", "status")
    assert code == 0 and "broken" in out and "partner" in out
    code, out, _ = _run(capsys, "outbox", "purge", "--older-than-days", "0", "--archive")
    assert code == 0 and "archived 0" in out  # the replayed message is pending, not processed
    engine.dispose()


def test_a_held_back_key_is_visible_and_discard_releases_it(database_url: str, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    assert _run(capsys, "migrate")[0] == 0
    engine = make_engine(database_url)
    with engine.begin() as conn:
        subscribe(conn, "agreement", "invoicing")
    with Session(engine) as s, s.begin():
        for n in range(3):
            enqueue(s, "agreement", {"n": n}, key="643007574000000017", max_attempts=1)
    registry = HandlerRegistry()
    registry.register("agreement", lambda s, m: (_ for _ in ()).throw(ValueError("no tariff"))
                      if m.payload["n"] == 0 else None, consumer="invoicing")
    Worker(engine, registry).drain()

    code, out, _ = _run(capsys, "outbox", "status", "--json")
    report = json.loads(out)
    [held] = report["held_keys"]
    assert (held["consumer"], held["key"], held["held"]) == ("invoicing", "643007574000000017", 2)
    invoicing = next(c for c in report["consumers"] if c["consumer"] == "invoicing")
    assert (invoicing["dead"], invoicing["held"]) == (1, 2)
    code, out, _ = _run(capsys, "outbox", "status")
    assert f"held back: invoicing key '643007574000000017': 2 delivery(ies) wait behind dead letter " \
           f"{held['dead_letter_id']}" in out

    code, out, err = _run(capsys, "outbox", "discard", str(held["dead_letter_id"]), "999")
    assert code == 1 and "discarded 1" in out and "not dead letters" in err
    assert [o.result for o in Worker(engine, registry).drain()] == ["done", "done"]
    code, out, _ = _run(capsys, "outbox", "status", "--json")
    assert json.loads(out)["held_keys"] == []
    engine.dispose()


def test_a_worker_whose_datahub_call_can_outlast_the_lease_refuses_to_start(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    from pathlib import Path

    config = Path(str(tmp_path)) / "gateway.toml"
    config.write_text('[outbox]\nlease_seconds = 60\n[datahub]\nendpoint = "http://127.0.0.1:9/"\n'
                      "timeout_seconds = 30\nretries = 3\n")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    assert _run(capsys, "migrate")[0] == 0
    code, _, err = _run(capsys, "--config", str(config), "worker")
    assert code == 2 and "refusing to serve gateway.datahub_send" in err and "Traceback" not in err


def test_unreadable_configuration_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--config", "/nonexistent/gateway.toml", "outbox", "status")
    assert code == 2 and "cannot read configuration" in err
