"""VAT per rate over priced lines (the invoice's VAT specification).

VAT is computed once per rate on the sum of the line amounts, rounded half up to cents. A net credit per
rate carries no VAT unless ``vat_on_net_credit`` (docs/market.md §3.1, unverified: catalogue configuration).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from gateway.rating.core.lines import PricedLine
from gateway.rating.core.money import round_cents


@dataclass(frozen=True)
class VatLine:
    rate: Decimal
    base: Decimal
    vat: Decimal


def vat_breakdown(lines: Iterable[PricedLine], vat_on_net_credit: bool = False) -> list[VatLine]:
    bases: dict[Decimal, Decimal] = {}
    for line in lines:
        bases[line.vat_rate] = bases.get(line.vat_rate, Decimal(0)) + line.amount
    result = []
    for rate in sorted(bases):
        base = bases[rate]
        vat = round_cents(base * rate / 100) if base > 0 or vat_on_net_credit else Decimal("0.00")
        result.append(VatLine(rate, base, vat))
    return result
