"""The one question event checks ask about stored data: does this accounting point exist?

The lead's store answers it; checks stay pure. A callable may answer with a plain bool (known or not)
or with an `AccountingPointState` when it also knows that a point was deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from enum import Enum

from gateway.validation.errors import EC, EventError


class AccountingPointState(Enum):
    KNOWN = "known"
    UNKNOWN = "unknown"  # possibly only not yet: the E58 may still be on its way
    DELETED = "deleted"


AccountingPointLookup = Callable[[str], "bool | AccountingPointState"]


def known_in(points: Collection[str]) -> AccountingPointLookup:
    """A lookup over an in-memory collection (tests, simulators, batch tools)."""
    return lambda gsrn: gsrn in points


def accounting_point_errors(
    gsrn: str, lookup: AccountingPointLookup | None, transaction_id: str | None
) -> list[EventError]:
    if lookup is None:
        return []
    answer = lookup(gsrn)
    state = (
        answer
        if isinstance(answer, AccountingPointState)
        else AccountingPointState.KNOWN
        if answer
        else AccountingPointState.UNKNOWN
    )
    if state is AccountingPointState.UNKNOWN:
        return [EventError(EC.ACCOUNTING_POINT_NOT_FOUND, f"accounting point {gsrn} not found", transaction_id)]
    if state is AccountingPointState.DELETED:
        return [EventError(EC.ACCOUNTING_POINT_DELETED, f"accounting point {gsrn} is deleted", transaction_id)]
    return []
