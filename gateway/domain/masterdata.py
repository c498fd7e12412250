"""E58 accounting point master data (DH-121..127)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from gateway.domain.message import DatahubMessage


@dataclass(frozen=True, slots=True)
class AccountingPointAddress:
    """`MeteringPointAddress` (Type AF01/AF02; up to 8 per accounting point)."""

    address_type: str
    street_name: str | None = None
    building_number: str | None = None
    floor: str | None = None
    room: str | None = None
    postcode: str | None = None
    city: str | None = None
    country_code: str | None = None
    free_form: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class AccountingPointMasterData:
    """One E58 transaction: the state of an accounting point from `start_of_occurrence` on.

    Carries what rating and billing need (grid area, metering method, resolution, main fuse size,
    tax category, addresses); unit/production details of the schema are not kept.
    """

    accounting_point: str
    start_of_occurrence: datetime
    grid_area: str
    physical_status: str | None = None
    accounting_point_type: str | None = None
    accounting_point_subtype: str | None = None
    remote_connectable: bool | None = None
    metering_time_division: str | None = None
    meter_identification: str | None = None
    related_accounting_point: str | None = None
    netting: bool | None = None
    addresses: tuple[AccountingPointAddress, ...] = ()
    remote_readable: bool | None = None
    metering_method: str | None = None
    resolution: str | None = None
    user_group: str | None = None
    heating_method: str | None = None
    fuse_size: str | None = None
    contracted_connection_capacity: Decimal | None = None
    tax_category: str | None = None
    update_reason: str | None = None
    description: str | None = None
    original_business_document_reference: str | None = None
    original_business_document_sender: str | None = None

    @property
    def transaction_id(self) -> None:
        """E58 transactions carry no id of their own: the message id identifies them."""
        return None


E58Message = DatahubMessage[AccountingPointMasterData]
