"""Deterministic fault injection for the provider simulator, in the style of the Datahub simulator's.

A rule fires on chosen 1-based call numbers of one operation (``calls``) or with a probability drawn from a
seeded ``random.Random``. Operations: ``create_job`` (POST /jobs), ``payment`` (POST /jobs/payment),
``statusupdates`` (GET /jobs/statusupdates), ``webhook`` (each webhook delivery). Kinds:

``http_5xx``     answer 503 (problem+json) without processing
``slow``         hold the request ``slow_delay`` real seconds, then process and answer it normally
``lost_answer``  (create_job, payment) process the request, then drop the connection without an answer
``duplicate``    (webhook) deliver the batch a second time right after it was accepted

Command-line form: ``OPERATION:KIND[:calls=1,3|p=0.25]``. An outage — the whole API answering 503 for a
period on the simulated clock — is ``down:for=SECONDS`` (from the clock's start) or
``down:from=ISO-INSTANT,for=SECONDS``; webhooks wait too.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal, get_args

FaultKind = Literal["http_5xx", "slow", "lost_answer", "duplicate"]
OPERATIONS: Final = ("create_job", "payment", "statusupdates", "webhook")
_KIND_OPERATIONS: Final[dict[str, tuple[str, ...]]] = {
    "http_5xx": OPERATIONS,
    "slow": OPERATIONS,
    "lost_answer": ("create_job", "payment"),
    "duplicate": ("webhook",),
}


@dataclass(frozen=True, slots=True)
class FaultRule:
    operation: str
    kind: FaultKind
    calls: frozenset[int] = frozenset()
    probability: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in _KIND_OPERATIONS:
            raise ValueError(f"unknown fault kind {self.kind!r}; choose one of {', '.join(get_args(FaultKind))}")
        if self.operation not in _KIND_OPERATIONS[self.kind]:
            raise ValueError(f"fault {self.kind!r} does not apply to operation {self.operation!r} "
                             f"(it applies to {', '.join(_KIND_OPERATIONS[self.kind])})")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if any(call < 1 for call in self.calls):
            raise ValueError("call numbers are 1-based")
        if not self.calls and self.probability == 0.0:
            raise ValueError("a fault rule needs call numbers or a probability")


@dataclass(frozen=True, slots=True)
class Outage:
    """The provider is down from ``start`` (inclusive) to ``end`` (exclusive), simulated time; None = the
    clock's start."""

    start: datetime | None
    duration: timedelta

    def covers(self, instant: datetime, clock_start: datetime) -> bool:
        begin = self.start or clock_start
        return begin <= instant < begin + self.duration


def parse_fault(spec: str) -> FaultRule | Outage:
    """``OPERATION:KIND[:calls=1,2|p=0.5]`` or ``down:for=SECONDS`` / ``down:from=ISO,for=SECONDS``."""
    head, _, rest = spec.partition(":")
    if head == "down":
        return _outage(spec, rest)
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"fault spec {spec!r} is not OPERATION:KIND[:calls=…|p=…] or down:for=SECONDS")
    operation, kind = parts[0], parts[1]
    calls: frozenset[int] = frozenset()
    probability = 1.0 if len(parts) == 2 else 0.0
    if len(parts) == 3:
        key, _, value = parts[2].partition("=")
        try:
            if key == "calls":
                calls = frozenset(int(number) for number in value.split(",") if number)
            elif key == "p":
                probability = float(value)
            else:
                raise ValueError(f"fault spec {spec!r}: expected calls=… or p=…")
        except ValueError as exc:
            raise ValueError(f"fault spec {spec!r}: {exc}") from None
    return FaultRule(operation=operation, kind=kind, calls=calls, probability=probability)  # type: ignore[arg-type]


def _outage(spec: str, rest: str) -> Outage:
    fields = dict(item.partition("=")[::2] for item in rest.split(",") if item)
    if "for" not in fields or set(fields) - {"for", "from"}:
        raise ValueError(f"outage {spec!r}: expected down:for=SECONDS or down:from=ISO-INSTANT,for=SECONDS")
    try:
        duration = timedelta(seconds=float(fields["for"]))
        start = datetime.fromisoformat(fields["from"].replace("Z", "+00:00")) if "from" in fields else None
    except ValueError as exc:
        raise ValueError(f"outage {spec!r}: {exc}") from None
    if duration <= timedelta(0):
        raise ValueError(f"outage {spec!r}: the duration must be positive")
    if start is not None and start.tzinfo is None:
        raise ValueError(f"outage {spec!r}: the start needs a UTC offset (e.g. 2026-02-01T08:00:00Z)")
    return Outage(start, duration)


class FaultInjector:
    """Counts calls per operation and tells which faults fire for the next one (thread-safe)."""

    def __init__(self, rules: Sequence[FaultRule] = (), *, seed: int = 0) -> None:
        self._rules = tuple(rules)
        self._random = random.Random(seed)
        self._calls: Counter[str] = Counter()
        self._fired: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def next_call(self, operation: str) -> frozenset[FaultKind]:
        with self._lock:
            self._calls[operation] += 1
            number = self._calls[operation]
            fired: set[FaultKind] = set()
            for rule in self._rules:
                if rule.operation != operation:
                    continue
                drawn = self._random.random() if rule.probability > 0.0 else 1.0
                if number in rule.calls or drawn < rule.probability:
                    fired.add(rule.kind)
                    self._fired[(operation, rule.kind)] += 1
            return frozenset(fired)

    def calls(self, operation: str) -> int:
        with self._lock:
            return self._calls[operation]

    def fired(self, operation: str, kind: str) -> int:
        with self._lock:
            return self._fired[(operation, kind)]
