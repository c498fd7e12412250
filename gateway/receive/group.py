"""Group commit: several messages checked with one lookup per kind and stored in one transaction, with exactly the
outcomes, versions and order of receiving them one after another.

A run is a sequence of consecutive messages none of which depends on the effect of another in it, so that
checking each against the state before the run gives what checking it after its predecessors would: their
message ids differ, their transaction ids are disjoint, and only the run's last message may be one whose effect
the checks of others read (master data introduces accounting points, agreements and end notices change what an
end notice finds). Metering messages — of any outcome: accepted, partially, rejected, parked — and refusals
continue a run; corrections of a period stored earlier in the same run get consecutive versions in run order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.domain.message import DatahubMessage
from gateway.receive.checks import transaction_ids
from gateway.receive.reading import Arrival

# Messages stored together: bounds the transaction and the memory held.
RUN = 500
# Series per run (one message may have more): a run looks up all its ids and points at once, and SQLite allows
# 32,766 parameters per statement, three per point in the known-points query.
RUN_SERIES = 5_000
# Document types whose messages may be followed by others in a run: their effects are read by no check.
_CONTINUE_A_RUN = frozenset({"E66"})


@dataclass
class Run:
    """Consecutive messages that are stored together, and the ids they use."""

    arrivals: list[Arrival] = field(default_factory=list)
    message_ids: set[str] = field(default_factory=set)
    transaction_ids: set[str] = field(default_factory=set)
    series: int = 0
    closed: bool = False

    def __len__(self) -> int:
        return len(self.arrivals)

    def add(self, arrival: Arrival) -> bool:
        """Take the next message if it is independent of those taken; whether it was taken."""
        if self.closed or len(self.arrivals) >= RUN:
            return False
        mid = arrival.message_id
        if mid is not None and mid in self.message_ids:
            return False
        read = arrival.read
        message: DatahubMessage[Any] | None = read if isinstance(read, DatahubMessage) else None
        ids = transaction_ids(message) if message is not None else []
        if self.arrivals and (
                len(set(ids)) != len(ids) or not self.transaction_ids.isdisjoint(ids)
                or self.series + len(ids) > RUN_SERIES):
            return False
        self.arrivals.append(arrival)
        if mid is not None:
            self.message_ids.add(mid)
        self.transaction_ids.update(ids)
        self.series += len(ids)
        self.closed = message is not None and message.document_type not in _CONTINUE_A_RUN
        return True
