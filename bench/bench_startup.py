"""How long `gateway` commands take to start and finish, against importing zeep + aiohttp + SQLAlchemy alone.

Every round runs each command line once as a new process, in turn (so a busy moment of the machine hits all of
them alike); the table shows each command's median wall time and its ratio to the baseline's median in the same
run. The light commands run against a migrated SQLite database. `python -m bench.bench_startup [--rounds N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import print_table

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ("import zeep + aiohttp + sqlalchemy", [sys.executable, "-c", "import zeep, aiohttp, sqlalchemy"])
GATEWAY = [sys.executable, "-m", "gateway.cli"]
COMMANDS = [
    ("python -c pass (interpreter start)", [sys.executable, "-c", "pass"]),
    ("gateway --help", [*GATEWAY, "--help"]),
    ("gateway outbox --help", [*GATEWAY, "outbox", "--help"]),
    ("gateway outbox status", [*GATEWAY, "outbox", "status"]),
    ("gateway parties list", [*GATEWAY, "parties", "list"]),
    ("gateway products list", [*GATEWAY, "products", "list"]),
]


def _seconds(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    with TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(GATEWAY_DATABASE_URL=f"sqlite:///{Path(tmp) / 'g.db'}", PYTHONPATH=str(ROOT))
        _seconds([*GATEWAY, "migrate"], env)
        runs: dict[str, list[float]] = {name: [] for name, _ in [BASELINE, *COMMANDS]}
        for _ in range(args.rounds):
            for name, line in [BASELINE, *COMMANDS]:
                runs[name].append(_seconds(line, env))
    base = statistics.median(runs[BASELINE[0]])
    rows = [[name, f"{statistics.median(times) * 1000:.0f}", f"{min(times) * 1000:.0f}",
             f"{statistics.median(times) / base:.2f}×"] for name, times in runs.items()]
    print(f"{args.rounds} rounds, {os.cpu_count()} cores; median and fastest wall time per command line")
    print_table(["command", "median ms", "fastest ms", "against the baseline (target < 1×)"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
