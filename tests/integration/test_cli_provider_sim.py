"""`gateway provider-sim` as a user starts it: it says where it listens, serves the API, and refuses bad
options with one line and exit status 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = [sys.executable, "-m", "gateway.cli"]


def test_the_simulator_starts_says_where_and_answers() -> None:
    process = subprocess.Popen([*GATEWAY, "provider-sim", "--port", "0", "--clock-rate", "0", "--start",
                                "2026-02-01T08:00:00Z", "--account", "retail=tok"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"listening on (http://\S+?)/ \(accounts: retail", line)
        assert found, line
        answer = requests.get(f"{found.group(1)}/jobs/statusupdates", headers={"Authorization": "Bearer tok"},
                              timeout=30)
        assert answer.status_code == 204
        status = requests.get(f"{found.group(1)}/sim/status", timeout=30).json()
        assert status["now"].startswith("2026-02-01T08:00:00") and status["down"] is False
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize(("options", "message"), [
    (["--fault", "create_job:explode"], "unknown fault kind"),
    (["--account", "no-token"], "expected NAME=TOKEN"),
    (["--start", "2026-02-01T08:00:00"], "UTC offset"),
])
def test_bad_options_are_one_line_and_exit_2(options: list[str], message: str) -> None:
    done = subprocess.run([*GATEWAY, "provider-sim", "--port", "0", *options], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
