"""Run every benchmark in turn (`make bench`); each prints its own table of ratios against its baselines.

PostgreSQL rows appear when GATEWAY_BENCH_POSTGRES_URL (or GATEWAY_TEST_POSTGRES_URL) is set.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.common import POSTGRES_URL

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = [
    "bench.bench_outbox", "bench.bench_ingest", "bench.bench_pull", "bench.bench_rating", "bench.bench_rating_e2e",
    "bench.bench_startup", "bench.bench_billing", "bench.bench_payments", "bench.bench_support",
]
NEEDS_POSTGRES = {"bench.bench_support"}  # message search at a million messages is a PostgreSQL benchmark


def main() -> int:
    failed = []
    for module in BENCHMARKS:
        print(f"\n=== {module} ===", flush=True)
        if module in NEEDS_POSTGRES and not POSTGRES_URL:
            print("skipped: set GATEWAY_BENCH_POSTGRES_URL (or GATEWAY_TEST_POSTGRES_URL)", flush=True)
            continue
        if subprocess.run([sys.executable, "-m", module], cwd=ROOT).returncode != 0:
            failed.append(module)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
