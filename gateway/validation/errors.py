"""Event-level errors (Datahub's third validation level) and their codes, named in one place.

`EC.MPT.115` and `EC.MPT.146` are Datahub's own error ids (from Fingrid's documentation). Datahub's
other ids are not public in a form we could verify, so every other check uses a gateway-owned id in
the same style under `EC.GW.*`; a counterpart that needs Datahub's exact id maps it at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class EventError:
    """One failed event rule. `transaction_id` is None for message-level errors and for the single
    transaction of document types that carry no transaction id (E58, F01, F04, F06)."""

    code: str
    text: str
    transaction_id: str | None = None


class EC:
    """Event error codes."""

    # Datahub's own ids
    ACCOUNTING_POINT_NOT_FOUND: Final = "EC.MPT.115"
    ACCOUNTING_POINT_DELETED: Final = "EC.MPT.146"

    # identifiers
    INVALID_GSRN: Final = "EC.GW.101"
    INVALID_GLN: Final = "EC.GW.102"
    INVALID_CUSTOMER_ID: Final = "EC.GW.103"

    # message level
    DUPLICATE_TRANSACTION_ID: Final = "EC.GW.120"
    TOO_MANY_SERIES: Final = "EC.GW.121"

    # time series
    PERIOD_NOT_POSITIVE: Final = "EC.GW.110"
    PERIOD_NOT_ON_RESOLUTION_GRID: Final = "EC.GW.111"
    RESOLUTION_MISSING: Final = "EC.GW.112"
    OBSERVATION_COUNT_MISMATCH: Final = "EC.GW.113"
    SEQUENCE_NOT_CONTIGUOUS: Final = "EC.GW.114"
    NEGATIVE_QUANTITY: Final = "EC.GW.115"
    MISSING_CONFLICT: Final = "EC.GW.116"  # QM=1 together with QTY or QQ
    QUANTITY_ABSENT: Final = "EC.GW.117"
    UNIT_NOT_VALID_FOR_PRODUCT: Final = "EC.GW.118"
    TOO_MANY_VALUES: Final = "EC.GW.119"

    # agreements and master data
    AGREEMENT_END_BEFORE_START: Final = "EC.GW.130"
    AGREEMENT_WITHOUT_CUSTOMER: Final = "EC.GW.131"
    E_INVOICE_CHANNEL_WITHOUT_ADDRESS: Final = "EC.GW.132"
    GRID_AREA_MISSING: Final = "EC.GW.133"
    AGREEMENT_NOT_FOUND: Final = "EC.GW.134"  # an end notice for no active agreement of ours
    TRANSACTION_REPEATED: Final = "EC.GW.190"  # the sender's transaction id was used before


# Errors that can disappear by themselves once an earlier message (e.g. the E58 that creates the
# accounting point) has been processed: the receive pipeline may park the message and retry instead
# of rejecting it for good.
ORDERING_ERROR_CODES: Final = frozenset({EC.ACCOUNTING_POINT_NOT_FOUND})


def is_ordering_error(error: EventError | str) -> bool:
    """True when the error may be caused by messages arriving out of order (retry later)."""
    code = error.code if isinstance(error, EventError) else error
    return code in ORDERING_ERROR_CODES
