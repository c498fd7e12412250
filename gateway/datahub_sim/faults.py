"""Deterministic fault injection for the Datahub simulator.

A rule fires on chosen 1-based call numbers of one operation (``calls``), or with a probability drawn from a
seeded ``random.Random`` (same seed, same sequence of calls → same faults). Kinds:

``timeout``        hold the request for ``timeout_delay`` seconds, then answer 503 without processing it
``http_5xx``       answer HTTP 503 with a non-SOAP body, without processing
``duplicate``      (peekMessage) deliver the peeked message a second time: a copy with a new reference is
                   queued right behind it
``dequeue_fault``  (dequeueMessage) answer a Receiver Fault and keep the message in the queue
``reject``         (sendMessage, processMessage) accept the message but answer it with a negative ACK (BA02)
``slow``           process the request as usual, then hold the answer for ``slow_delay`` seconds (or until
                   ``DatahubSimulator.release_slow_answers()``): a caller that gives up or dies in between has
                   delivered its message without learning so

Command-line form: ``OPERATION:KIND[:calls=1,3|p=0.25]``, e.g. ``peekMessage:http_5xx:calls=1,2``.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, get_args

FaultKind = Literal["timeout", "http_5xx", "duplicate", "dequeue_fault", "reject", "slow"]
OPERATIONS: Final = ("sendMessage", "processMessage", "peekMessage", "dequeueMessage")
_KIND_OPERATIONS: Final[dict[str, tuple[str, ...]]] = {
    "timeout": OPERATIONS,
    "http_5xx": OPERATIONS,
    "duplicate": ("peekMessage",),
    "dequeue_fault": ("dequeueMessage",),
    "reject": ("sendMessage", "processMessage"),
    "slow": OPERATIONS,
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
            raise ValueError(f"fault {self.kind!r} does not apply to operation {self.operation!r}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if any(call < 1 for call in self.calls):
            raise ValueError("call numbers are 1-based")
        if not self.calls and self.probability == 0.0:
            raise ValueError("a fault rule needs call numbers or a probability")


def parse_fault_rule(spec: str) -> FaultRule:
    """``OPERATION:KIND[:calls=1,2|p=0.5]``; without the third part the rule fires on every call."""
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"fault spec {spec!r} is not OPERATION:KIND[:calls=…|p=…]")
    operation, kind = parts[0], parts[1]
    calls: frozenset[int] = frozenset()
    probability = 1.0 if len(parts) == 2 else 0.0
    if len(parts) == 3:
        key, _, value = parts[2].partition("=")
        if key == "calls":
            calls = frozenset(int(number) for number in value.split(",") if number)
        elif key == "p":
            probability = float(value)
        else:
            raise ValueError(f"fault spec {spec!r}: expected calls=… or p=…")
    return FaultRule(operation=operation, kind=kind, calls=calls, probability=probability)  # type: ignore[arg-type]


class FaultInjector:
    """Counts calls per operation and tells which faults fire for the next one (thread-safe)."""

    def __init__(self, rules: Sequence[FaultRule] = (), *, seed: int = 0) -> None:
        self._rules = tuple(rules)
        self._random = random.Random(seed)
        self._calls: Counter[str] = Counter()
        self._fired: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        return self._rules

    def next_call(self, operation: str) -> frozenset[FaultKind]:
        with self._lock:
            self._calls[operation] += 1
            number = self._calls[operation]
            fired: set[FaultKind] = set()
            for rule in self._rules:
                if rule.operation != operation:
                    continue
                # Draw for every probabilistic rule on every call so the sequence depends only on the seed
                # and the call order, not on which other rules fired.
                drawn = self._random.random() if rule.probability > 0.0 else 1.0
                if number in rule.calls or drawn < rule.probability:
                    fired.add(rule.kind)
                    self._fired[(operation, rule.kind)] += 1
            return frozenset(fired)

    def calls(self, operation: str) -> int:
        with self._lock:
            return self._calls[operation]

    def fired(self, operation: str, kind: FaultKind) -> int:
        with self._lock:
            return self._fired[(operation, kind)]
