"""Event-level validation (Datahub's third level): pure functions returning lists of `EventError`."""

from gateway.validation.errors import EC, ORDERING_ERROR_CODES, EventError, is_ordering_error
from gateway.validation.lookup import AccountingPointLookup, AccountingPointState, known_in
from gateway.validation.message import check_message, check_transaction
from gateway.validation.metering import check_metering_transaction
from gateway.validation.results import CheckResult, TransactionResult

__all__ = [
    "EC",
    "ORDERING_ERROR_CODES",
    "AccountingPointLookup",
    "AccountingPointState",
    "CheckResult",
    "EventError",
    "TransactionResult",
    "check_message",
    "check_metering_transaction",
    "check_transaction",
    "is_ordering_error",
    "known_in",
]
