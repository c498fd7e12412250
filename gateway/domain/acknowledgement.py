"""ACK: Datahub's process-level answer (BA01 accepted, BA02 rejected, BA03 partially accepted)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain.message import DatahubMessage


@dataclass(frozen=True, slots=True)
class EventReason:
    """`EventReason`: an error id such as `EC.MPT.115` with its text."""

    code: str
    text: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SeriesReason:
    code: str
    text: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SeriesDetail:
    """`SeriesDetail`: the result for one transaction (time series) of the acknowledged message."""

    series_id: str
    reasons: tuple[SeriesReason, ...]
    senders_series_id: str | None = None


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """The ACK's single transaction. The acknowledged message's id is the header's
    `original_business_document_reference`."""

    reason_code: str
    event_reasons: tuple[EventReason, ...] = ()
    series_details: tuple[SeriesDetail, ...] = ()

    @property
    def transaction_id(self) -> None:
        return None


AckMessage = DatahubMessage[Acknowledgement]


def original_message_id(ack: AckMessage) -> str | None:
    """The id of the message this ACK answers."""
    return ack.header.original_business_document_reference
