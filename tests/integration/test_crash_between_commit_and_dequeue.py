"""A pull worker killed (SIGKILL) at any step loses nothing and applies nothing twice: after the landing commit
and before the dequeue (the restarted worker reads the message again, lands it again, the pipeline answers
duplicate), after the dequeue and before the pipeline read the landed message (the restart receives it), and
inside the pipeline's transaction that stores landed messages (rolled back: the restart receives them).

The worker runs as a real subprocess (`python -m gateway.datahub_pull`) against the simulator served over HTTP
from this process; hidden flags kill it at the chosen step.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.datahub_sim import DatahubSimulator
from gateway.store.tables import (
    AccountingPointRow,
    LandedMessage,
    MessageRecord,
    MeteringSeriesRow,
    RawMessage,
    TransactionRecord,
)
from mappings import samples
from tests.support.pipeline import register_parties
from tests.support.simulator_thread import RunningSimulator, serve_simulator

ROOT = Path(__file__).resolve().parents[2]
SUPPLIER = samples.OUR_SUPPLIER_GLN
DATAHUB = samples.DATAHUB_GLN
POINTS = [samples.gsrn(n) for n in (1, 2, 3)]


def _counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        return {t.__name__: int(s.execute(select(func.count()).select_from(t)).scalar_one())
                for t in (AccountingPointRow, MessageRecord, TransactionRecord, MeteringSeriesRow, LandedMessage)}


def _command(run: RunningSimulator, database_url: str, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    config = tmp_path / "gateway.toml"
    config.write_text(f'[datahub]\nendpoint = "{run.url}"\nour_gln = "{SUPPLIER}"\ndatahub_gln = "{DATAHUB}"\n'
                      "retries = 2\ntimeout_seconds = 10\npoll_backoff_min_seconds = 0.05\n"
                      "poll_backoff_max_seconds = 0.2\n")
    env = {**os.environ, "GATEWAY_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    env.pop("GATEWAY_DATAHUB_ENDPOINT", None)
    return [sys.executable, "-m", "gateway.datahub_pull", "--config", str(config)], env


def _pull(run: RunningSimulator, database_url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command, env = _command(run, database_url, tmp_path)
    return subprocess.run([*command, "--once", *extra], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(("flag", "n"), [
    ("--crash-after-commit", 2), ("--crash-after-commit", 4), ("--crash-after-dequeue", 3),
    ("--crash-while-storing", 2), ("--crash-while-storing", 4),
], ids=["landed-master-data", "landed-metering-bundle", "dequeued-not-received", "storing-master-data",
        "storing-metering-run"])
def test_a_worker_killed_at_any_step_loses_nothing_and_applies_nothing_twice(
    engine: Engine, database_url: str, tmp_path: Path, flag: str, n: int
) -> None:
    register_parties(engine)
    with serve_simulator(DatahubSimulator()) as run:
        queued = [run.sim.enqueue(SUPPLIER, samples.e58_message(p, datetime(2026, 3, 1, tzinfo=UTC))) for p in POINTS]
        queued.append(run.sim.enqueue(SUPPLIER, samples.e66_message(DATAHUB, SUPPLIER, POINTS, date(2026, 3, 29))))
        queued.append(run.sim.enqueue(SUPPLIER, samples.e66_message(DATAHUB, SUPPLIER, POINTS, date(2026, 10, 25))))

        killed = _pull(run, database_url, tmp_path, flag, str(n))

        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert f"{flag} {n}" in killed.stderr
        left_in_queue = {"--crash-after-commit": n - 1, "--crash-after-dequeue": n}.get(flag, len(queued))
        # Landed and committed, but not dequeued: still in Datahub's queue.
        assert [m.ref for m in run.sim.queue(SUPPLIER)] == [m.ref for m in queued[left_in_queue:]]
        with Session(engine) as s:
            landed = s.execute(select(col(LandedMessage.reference)).order_by(col(LandedMessage.id))).scalars().all()
            stored = s.execute(select(col(MessageRecord.message_id)).order_by(col(MessageRecord.id))).scalars().all()
        if flag == "--crash-while-storing":
            # The master data went one message per run; the bundles share one. The run being stored is rolled back.
            stored_before = {2: 1, 4: 3}[n]
            assert stored == [m.message_id for m in queued[:stored_before]]
            assert landed == [m.ref for m in queued[stored_before:]]
        else:
            assert stored == [] and landed == [m.ref for m in queued[:n]], "--once lands first, then receives"

        restarted = _pull(run, database_url, tmp_path)

        assert restarted.returncode == 0, restarted.stderr
        summary = json.loads(restarted.stdout)
        expected = {"--crash-after-commit": {"duplicate": 1, "accepted": len(queued) - n},
                    "--crash-after-dequeue": {"accepted": len(queued) - n}}.get(flag, {})
        assert summary["results"] == expected
        assert summary["recovered"] == len(landed)
        assert run.sim.queue(SUPPLIER) == []

    assert _counts(engine) == {
        "AccountingPointRow": 3, "MessageRecord": 5, "TransactionRecord": 6, "MeteringSeriesRow": 6,
        "LandedMessage": 0}
    with Session(engine) as s:
        versions = set(s.execute(select(col(MeteringSeriesRow.version))).scalars())
        raw = int(s.execute(select(func.count()).select_from(RawMessage)).scalar_one())
        ids = s.execute(select(col(MessageRecord.message_id)).order_by(col(MessageRecord.id))).scalars().all()
    assert versions == {1}, "the re-read message created no second version"
    assert raw == 5, "a duplicate is answered from the registry, not archived again"
    assert ids == [m.message_id for m in queued], "received in the order they were queued"


def test_the_long_running_worker_drains_the_queue_and_stops_cleanly_on_sigterm(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    register_parties(engine)
    with serve_simulator(DatahubSimulator()) as run:
        run.sim.enqueue(SUPPLIER, samples.e58_message(POINTS[0], datetime(2026, 3, 1, tzinfo=UTC)))
        command, env = _command(run, database_url, tmp_path)
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        try:
            run.sim.enqueue(SUPPLIER, samples.e66_message(DATAHUB, SUPPLIER, POINTS[:1], date(2026, 3, 29)))
            deadline = time.monotonic() + 60
            while ((run.sim.queue(SUPPLIER) or _counts(engine)["MeteringSeriesRow"] == 0)
                   and time.monotonic() < deadline):
                assert worker.poll() is None, worker.communicate()
                time.sleep(0.05)
            worker.send_signal(signal.SIGTERM)
            _, stderr = worker.communicate(timeout=20)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        assert worker.returncode == 0, stderr
        assert run.sim.queue(SUPPLIER) == []
    assert _counts(engine) == {
        "AccountingPointRow": 1, "MessageRecord": 2, "TransactionRecord": 1, "MeteringSeriesRow": 1,
        "LandedMessage": 0}
