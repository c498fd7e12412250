"""The parts every Datahub message shares: Header, ProcessEnergyContext and 1..n transactions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """`Header`: who sent what to whom, when. Party ids are GLNs; times are aware UTC datetimes."""

    message_id: str
    document_type: str
    creation: datetime
    physical_sender: str
    juridical_sender: str
    juridical_recipient: str
    physical_recipient: str
    sender_routing_information: str | None = None
    original_business_document_reference: str | None = None
    registration_timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class ProcessContext:
    """`ProcessEnergyContext`: the DH process, the sender's role and the industry (always 23)."""

    business_process: str
    role: str
    industry_classification: str = "23"


@dataclass(frozen=True, slots=True)
class DatahubMessage(Generic[T]):
    """A parsed message: its header, its process context and its transactions in document order.

    Only E66 carries several transactions; the other types carry exactly one, still as a 1-tuple so
    that every consumer handles messages the same way.
    """

    header: MessageHeader
    context: ProcessContext
    transactions: tuple[T, ...]

    @property
    def document_type(self) -> str:
        return self.header.document_type

    @property
    def message_id(self) -> str:
        return self.header.message_id
