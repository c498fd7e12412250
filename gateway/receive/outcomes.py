"""What the pipeline answers and what its commit step writes: results, levels, channels, issues, outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.domain.message import DatahubMessage
from gateway.validation import CheckResult

ACCEPTED = "accepted"
PARTIALLY_ACCEPTED = "partially_accepted"
REJECTED = "rejected"
DUPLICATE = "duplicate"
PARKED = "parked"

SCHEMA = "schema"
PROCESS = "process"
EVENT = "event"

# Channels: who delivered the bytes. Only pushes to our SOAP endpoint get an ACK queued for the sender;
# messages pulled from Datahub are confirmed by dequeueing them.
CHANNEL_SOAP = "soap"
CHANNEL_DATAHUB = "datahub"
CHANNEL_CLI = "cli"

# Errors kept per message (registry, CLI line, Fault, ACK); the rest are only counted. A document can carry
# hundreds of thousands of errors; their list would cost more memory and storage than the document itself.
MAX_ERRORS = 100


@dataclass(frozen=True)
class Issue:
    code: str
    text: str
    line: int | None = None
    column: int | None = None
    transaction_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"code": self.code, "text": self.text, "line": self.line, "column": self.column}
        if self.transaction_id:
            d["transaction_id"] = self.transaction_id
        return d

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Issue:
        return cls(**{k: v for k, v in stored.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class ReceiveOutcome:
    result: str
    level: str | None
    message_id: str | None
    document_type: str | None
    reason_code: str | None = None
    errors: tuple[Issue, ...] = ()  # the first MAX_ERRORS
    ack: bytes | None = field(default=None, repr=False)
    message_pk: int | None = None
    transactions: int = 0
    sender_gln: str | None = None
    more_errors: int = 0  # errors found beyond those listed

    @property
    def is_fault(self) -> bool:
        """Schema and process rejections are SOAP Faults; event results travel as ACK messages."""
        return self.result == REJECTED and self.level in (SCHEMA, PROCESS)

    @property
    def error_count(self) -> int:
        return len(self.errors) + self.more_errors

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "document_type": self.document_type,
            "result": self.result,
            "reason_code": self.reason_code,
            "errors": [i.to_dict() for i in self.errors],
            "error_count": self.error_count,
        }


def capped(issues: tuple[Issue, ...], more: int = 0) -> tuple[tuple[Issue, ...], int]:
    """The first MAX_ERRORS issues, and how many more there are."""
    if len(issues) <= MAX_ERRORS:
        return issues, more
    return issues[:MAX_ERRORS], more + len(issues) - MAX_ERRORS


@dataclass
class Draft:
    """What the commit step writes for one message: built by the checks, completed with ids in the transaction."""

    data: bytes  # exactly the bytes received
    digest: str  # their SHA-256
    sender: str
    channel: str
    status: str
    level: str | None
    message_id: str | None
    document_type: str | None = None
    business_process: str | None = None
    reason_code: str | None = None
    errors: tuple[Issue, ...] = ()
    more_errors: int = 0
    message: DatahubMessage[Any] | None = None
    check: CheckResult | None = None
    waiting_for: tuple[str, ...] = ()
    # False for a refused resend (same id, other content): it is registered without the id, which stays the
    # first message's.
    claims_id: bool = True
    archived: bytes | None = field(default=None, repr=False)  # `data` compressed for the archive, if done ahead
    payload_offset: int | None = None  # where the business document starts in `data` (an envelope)

    def outcome(self, message_pk: int | None, ack: bytes | None = None) -> ReceiveOutcome:
        return ReceiveOutcome(
            self.status, self.level, self.message_id, self.document_type, self.reason_code, self.errors, ack,
            message_pk, len(self.message.transactions) if self.message else 0, self.sender, self.more_errors,
        )
