from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_worker(url: str, handlers: str, *extra: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = log.open("ab") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "outbox", "--url", url, "--handlers", handlers, *extra],
        cwd=ROOT, env=env, stdout=out, stderr=out,
    )
