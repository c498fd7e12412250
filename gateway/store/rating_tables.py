"""Tables of rating: spot prices, catalogue versions, product assignments and rated periods.

Spot prices are one row per (zone, resolution, interval start, version) rather than packed arrays per
document period. Prices exist once per zone, not per accounting point (FI: 35,040 quarters a year), so
row count is no concern, while documents of different sources (ENTSO-E days in CET, CSV runs of any
length) cut periods at different instants: per-interval rows make "same price again is a no-op", "a
changed price is a new version of that interval only" and "latest as of T" exact, whatever the source.
Prices are stored as integers of 0.001 €/MWh (the price quantum of the rating core), signs kept.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Date, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from outbox.types import UTCDateTime

_ID = BigInteger().with_variant(Integer(), "sqlite")

UQ_SPOT_PRICE_VERSION = "uq_spot_price_version"
UQ_RATING_REVISION = "uq_rating_result_revision"


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(UTCDateTime, nullable=nullable, index=index))


def _pk() -> Any:
    return Field(default=None, sa_column=Column(_ID, primary_key=True, autoincrement=True))


class SpotPriceImport(SQLModel, table=True):
    """One imported price file: where it came from and what it changed."""

    __tablename__ = "spot_price_import"
    id: int | None = _pk()
    source: str = Field(max_length=300)
    sha256: str = Field(max_length=64, index=True)
    format: str = Field(max_length=20)  # entsoe | csv
    document_id: str | None = Field(default=None, max_length=100)
    document_revision: int | None = None
    intervals: int
    new_intervals: int  # first version of an interval
    changed_intervals: int  # a new version of an interval with a different price
    imported_at: datetime = _ts()


class SpotPrice(SQLModel, table=True):
    """The price of one interval of one bidding zone; a changed price is a new version, the old one kept."""

    __tablename__ = "spot_price"
    __table_args__ = (
        UniqueConstraint("zone", "resolution_minutes", "interval_start", "version", name=UQ_SPOT_PRICE_VERSION),
        Index("ix_spot_price_zone_start", "zone", "interval_start"),
    )
    id: int | None = _pk()
    zone: str = Field(max_length=20)
    resolution_minutes: int
    interval_start: datetime = _ts()
    version: int
    price_milli_eur_per_mwh: int = Field(sa_column=Column(BigInteger, nullable=False))
    import_id: int = Field(sa_column=Column(_ID, nullable=False, index=True))
    imported_at: datetime = _ts()


class CatalogueVersion(SQLModel, table=True):
    """A loaded catalogue file, verbatim; the newest row is the active catalogue."""

    __tablename__ = "catalogue_version"
    id: int | None = _pk()
    sha256: str = Field(max_length=64, index=True)
    format: str = Field(max_length=10)  # toml | yaml
    source: str = Field(max_length=300)
    content: str = Field(sa_column=Column(Text, nullable=False))
    loaded_at: datetime = _ts()


class ProductAssignmentRow(SQLModel, table=True):
    """A network or district heating product of an accounting point for local days valid_from ≤ d < valid_to.

    The group's own DSO and heat customer data: the point attributes that product needs (main fuse,
    contracted flow or power) travel with the assignment, because heat points have no Datahub master data.
    Decimals are kept as text so that they stay exact on every backend.
    """

    __tablename__ = "product_assignment"
    __table_args__ = (Index("ix_product_assignment_point_from", "accounting_point", "valid_from"),)
    id: int | None = _pk()
    accounting_point: str = Field(max_length=18)
    product_code: str = Field(max_length=100)
    segment: str = Field(max_length=20)  # network | district_heating
    valid_from: date = Field(sa_column=Column(Date, nullable=False))
    valid_to: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    main_fuse: str | None = Field(default=None, max_length=40)
    contracted_flow_m3h: str | None = Field(default=None, max_length=30)
    contracted_power_kw: str | None = Field(default=None, max_length=30)
    # District heating: the billed customer (billing_customer.id). Heat points have no Datahub agreement, so
    # the assignment is the one place that ties a customer to a heat point.
    customer_id: int | None = Field(default=None, sa_column=Column(_ID, nullable=True))
    source: str = Field(default="cli", max_length=300)
    created_at: datetime = _ts()


class RatingResult(SQLModel, table=True):
    """One rating of one accounting point's period (local days period_start ≤ d < period_end).

    Revision 1 is the first rating; each later revision exists only when re-rating changed something and
    holds the full lines as now rated plus the delta lines against the previous revision.
    """

    __tablename__ = "rating_result"
    __table_args__ = (
        UniqueConstraint("accounting_point", "period_start", "period_end", "revision", name=UQ_RATING_REVISION),
        Index("ix_rating_result_point_start", "accounting_point", "period_start"),
    )
    id: int | None = _pk()
    accounting_point: str = Field(max_length=18)
    period_start: date = Field(sa_column=Column(Date, nullable=False))
    period_end: date = Field(sa_column=Column(Date, nullable=False))
    revision: int
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    delta: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    total: str = Field(max_length=30)
    delta_total: str = Field(max_length=30)
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    catalogue_version_id: int | None = Field(default=None, sa_column=Column(_ID, nullable=True))
    cause: str = Field(default="", max_length=200)
    created_at: datetime = _ts()
