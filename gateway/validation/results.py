"""Per-transaction check results and what the ACK needs from them (reason code, series details)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from gateway.domain.acknowledgement import EventReason, SeriesDetail, SeriesReason
from gateway.domain.codes import AckReasonCode
from gateway.validation.errors import EventError, is_ordering_error


@dataclass(frozen=True, slots=True)
class TransactionResult:
    """The outcome for the transaction at `index` (document order)."""

    index: int
    transaction_id: str | None
    errors: tuple[EventError, ...] = ()

    @property
    def accepted(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class CheckResult:
    """All event errors of one message: message-level ones and one result per transaction."""

    message_id: str
    message_errors: tuple[EventError, ...]
    transactions: tuple[TransactionResult, ...]

    @property
    def errors(self) -> tuple[EventError, ...]:
        return self.message_errors + tuple(e for t in self.transactions for e in t.errors)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def accepted(self) -> tuple[TransactionResult, ...]:
        return tuple(t for t in self.transactions if t.accepted)

    @property
    def rejected(self) -> tuple[TransactionResult, ...]:
        return tuple(t for t in self.transactions if not t.accepted)

    @property
    def reason_code(self) -> str:
        """BA01 when everything passed, BA02 when nothing can be accepted, BA03 otherwise."""
        if self.message_errors or not self.accepted:
            return AckReasonCode.REJECTED
        if self.rejected:
            return AckReasonCode.PARTIALLY_ACCEPTED
        return AckReasonCode.ACCEPTED

    @property
    def only_ordering_errors(self) -> bool:
        """There are errors, and every one of them may clear once earlier data arrives: park, don't reject."""
        errors = self.errors
        return bool(errors) and all(is_ordering_error(e) for e in errors)

    def _series_id(self, result: TransactionResult) -> str:
        return result.transaction_id if result.transaction_id is not None else self.message_id

    def event_reasons(self) -> tuple[EventReason, ...]:
        """Message-level errors as ACK `EventReason`s."""
        return tuple(EventReason(code=e.code, text=e.text) for e in self.message_errors)

    def series_details(self) -> tuple[SeriesDetail, ...]:
        """One ACK `SeriesDetail` per rejected transaction, with every reason. Transactions without an
        id of their own (single-transaction document types) are named by the message id."""
        return tuple(
            SeriesDetail(
                series_id=self._series_id(t),
                reasons=tuple(SeriesReason(code=e.code, text=e.text) for e in t.errors),
            )
            for t in self.rejected
        )

    def __iter__(self) -> Iterator[TransactionResult]:
        return iter(self.transactions)
