"""A billing run in its own process that reports each issued batch on stdout and then dawdles, so that a test
can SIGKILL it between (or inside) batches: ``python -m tests.support.billing_victim DATABASE_URL``."""

from __future__ import annotations

import sys
import time
from datetime import date

from gateway.billing.runs import bill
from gateway.store.db import make_engine


def main() -> int:
    engine = make_engine(sys.argv[1])

    def progress(done: int, total: int) -> None:
        print(f"{done}/{total}", flush=True)
        time.sleep(0.2)

    bill(engine, date(2026, 3, 1), entity="retail", invoice_date=date(2026, 4, 2), batch_size=3, progress=progress)
    print("finished", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
