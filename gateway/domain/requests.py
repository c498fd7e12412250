"""Outbound queries: F03 accounting point info request and F08 metering data request.

(Outbound F04 new sales agreements and F06 agreement ends use `agreement.SalesAgreementEvent` and
`agreement.AgreementEndNotice`, the same classes as inbound.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.domain.identifiers import CustomerIdentifier
from gateway.domain.message import DatahubMessage


@dataclass(frozen=True, slots=True)
class AccountingPointInfoRequest:
    """F03 (DH-132..135): ask for an accounting point's data, optionally naming its customers."""

    accounting_point: str
    start_of_occurrence: datetime | None = None
    customers: tuple[CustomerIdentifier, ...] = ()

    @property
    def transaction_id(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class RequestedProduct:
    product: str
    unit: str


@dataclass(frozen=True, slots=True)
class MeteringDataRequest:
    """F08 (DH-221..223): ask for metering data of a period; answered by E66 messages in the queue."""

    start: datetime
    end: datetime
    resolution: str | None = None
    invoice_relevant: bool | None = None
    accounting_points: tuple[str, ...] = ()
    metering_point_types: tuple[str, ...] = ()
    accounting_point_types: tuple[str, ...] = ()
    metering_areas: tuple[str, ...] = ()
    products: tuple[RequestedProduct, ...] = ()

    @property
    def transaction_id(self) -> None:
        return None


F03Message = DatahubMessage[AccountingPointInfoRequest]
F08Message = DatahubMessage[MeteringDataRequest]
