"""Priced lines: the output of rating and the input of invoicing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

LineKey = tuple[str, str, str, str, datetime, datetime, str, Decimal, str | None]


@dataclass(frozen=True)
class PricedLine:
    """One charge of one accounting point over ``period_start`` ≤ t < ``period_end`` (UTC), VAT 0.

    ``amount`` is rounded to cents once (ROUND_HALF_UP) from the exact sum of its intervals;
    ``unit_price`` is informative (for spot the volume-weighted average). Day-prorated fees carry
    ``days`` of supply out of ``days_in_month``.
    """

    accounting_point: str
    legal_entity: str
    product_code: str
    component: str
    period_start: datetime
    period_end: datetime
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal
    vat_kind: str
    vat_rate: Decimal
    tax_class: str | None = None
    estimated_intervals: int = 0
    missing_intervals: int = 0
    days: int | None = None
    days_in_month: int | None = None
    is_delta: bool = False

    @property
    def key(self) -> LineKey:
        """Identity of a line across re-ratings of the same period."""
        return (
            self.accounting_point,
            self.legal_entity,
            self.product_code,
            self.component,
            self.period_start,
            self.period_end,
            self.unit,
            self.vat_rate,
            self.tax_class,
        )

    @property
    def flags(self) -> tuple[str, ...]:
        flags = []
        if self.estimated_intervals:
            flags.append("estimated")
        if self.missing_intervals:
            flags.append("missing")
        if self.is_delta:
            flags.append("delta")
        return tuple(flags)

    @property
    def tax_basis(self) -> Decimal | None:
        """Electricity tax basis (kWh) when this is an electricity tax line."""
        return self.quantity if self.tax_class is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "accounting_point": self.accounting_point,
            "legal_entity": self.legal_entity,
            "product_code": self.product_code,
            "component": self.component,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "quantity": str(self.quantity),
            "unit": self.unit,
            "unit_price": str(self.unit_price),
            "amount": str(self.amount),
            "vat_kind": self.vat_kind,
            "vat_rate": str(self.vat_rate),
            "tax_class": self.tax_class,
            "tax_basis": None if self.tax_basis is None else str(self.tax_basis),
            "estimated_intervals": self.estimated_intervals,
            "missing_intervals": self.missing_intervals,
            "days": self.days,
            "days_in_month": self.days_in_month,
            "flags": list(self.flags),
        }

    def negated(self) -> PricedLine:
        return replace(self, quantity=-self.quantity, amount=-self.amount, is_delta=True)
