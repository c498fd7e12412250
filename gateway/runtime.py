"""Process-wide tuning for the gateway's long-running commands (ingest, the Datahub pull worker, outbox workers)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def settled_heap() -> Iterator[None]:
    """While the block runs, what was allocated before it (modules, SQLAlchemy metadata, parties, settings) is
    out of the cyclic garbage collector's reach.

    A full collection otherwise walks every one of those long-lived objects again and again while messages
    stream through: with about 125,000 of them, a pause of 40–75 ms every few thousand messages on this machine.
    Enter it once set-up is done. On exit everything is handed back to the collector, so a caller that goes on
    (a test, the demo) loses nothing.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def collector_paused() -> Iterator[None]:
    """While the block runs, the cyclic garbage collector does not run (reference counting still frees
    everything that is not in a cycle).

    For one bulk transaction that builds up state as it goes (a bank file's invoice states, seen entries,
    pending rows): each full collection rescans all of it, so their cost grows with the square of the file —
    measured: 10 of a 100,000-entry import's 44 seconds, with nothing for it to collect. Whatever cycles the
    block leaves are collected when it ends. A collector the caller had disabled stays disabled.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
