"""The simulated clock: jobs fall due, get reminded and go to collection on it, never on the wall clock.

``rate`` 0 freezes it (tests move it with ``advance``); ``rate`` 1 follows real time from ``start`` (the
sandbox default), and ``advance`` still jumps it forward — a fortnight of dunning in one call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class SimClock:
    def __init__(self, start: datetime, *, rate: float = 0.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock starts at an aware (UTC) instant")
        if rate < 0:
            raise ValueError("the clock rate must not be negative")
        self._start = start.astimezone(UTC)
        self._rate = rate
        self._monotonic = monotonic
        self._origin = monotonic()
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    @property
    def start(self) -> datetime:
        return self._start

    def now(self) -> datetime:
        with self._lock:
            running = timedelta(seconds=(self._monotonic() - self._origin) * self._rate)
            return self._start + self._offset + running

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("the simulated clock never goes back")
        with self._lock:
            self._offset += delta
        return self.now()
