"""`gateway demo` runs end to end on a fresh SQLite database and tells the truth about what happened."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.demo import run_demo


def test_demo_pulls_parks_rates_corrects_and_sends(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo(Settings(database_url=f"sqlite:///{tmp_path / 'gateway.db'}")) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    assert "duplicate: 1" in lines["pulled"] and "rejected: 1" in lines["pulled"]
    assert "dequeue failures (dequeued when handed out again): 1" in lines["pulled"]
    assert "31 metering messages waited" in lines["parked"] and "31 released" in lines["parked"]
    assert "372 series stored (12 of them on 29.3.2026 with 92 quarter hours)" in lines["metering"]
    assert "revision 2" in lines["correction"]
    assert "ACK BA01 -> accepted" in lines["outbound"]
    assert "0 dead letters" in lines["outbox"]
    assert out.count("€ excl. VAT") == 12
