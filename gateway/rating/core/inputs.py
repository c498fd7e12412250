"""What rating needs to know about an accounting point and its agreement (no storage types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class ProductAssignment:
    """A product valid for local days ``start`` ≤ day < ``end`` (``end`` None = open)."""

    product_code: str
    start: date
    end: date | None = None

    def __post_init__(self) -> None:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"assignment of {self.product_code} ends before it starts")


@dataclass(frozen=True)
class Agreement:
    """A retail sales agreement (F04): the product code chooses the retail product.

    ``end`` is exclusive: the first local day no longer supplied.
    """

    product_code: str
    start: date
    end: date | None = None

    def as_assignment(self) -> ProductAssignment:
        return ProductAssignment(self.product_code, self.start, self.end)


@dataclass(frozen=True)
class AccountingPoint:
    id: str
    tax_class: str | None = None  # electricity tax class (E58 TaxCategory); None for heat
    main_fuse: str | None = None  # e.g. "3x25A"
    network_products: tuple[ProductAssignment, ...] = field(default_factory=tuple)
    heating_products: tuple[ProductAssignment, ...] = field(default_factory=tuple)
    contracted_flow_m3h: Decimal | None = None
    contracted_power_kw: Decimal | None = None
