"""The VAT specification of an invoice: one row per rate, VAT computed once on the rate's base.

Same rule as rating's ``vat_breakdown`` (catalogue/README.md): VAT per rate = base × rate, rounded half up
to cents; a net negative base carries no VAT unless ``vat_on_net_credit`` (unverified practice, hence a
setting: docs/market.md §3.3).
A credit note reverses exactly the VAT that was charged on what it credits (``reversed_vat``).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from gateway.billing.core.model import Line, VatRow

CENT = Decimal("0.01")


def vat_summary(lines: Iterable[Line], vat_on_net_credit: bool = False) -> tuple[VatRow, ...]:
    bases: dict[Decimal, Decimal] = {}
    for line in lines:
        bases[line.vat_rate] = bases.get(line.vat_rate, Decimal("0.00")) + line.amount
    rows = []
    for rate in sorted(bases):
        base = bases[rate]
        vat = (base * rate / 100).quantize(CENT, ROUND_HALF_UP) if base > 0 or vat_on_net_credit else Decimal("0.00")
        rows.append(VatRow(rate, base, vat))
    return tuple(rows)


def reversed_vat(credited: Iterable[Line], vat_on_net_credit: bool = False) -> tuple[VatRow, ...]:
    """The VAT rows of a credit note for ``credited`` lines (as they were charged), with every sign turned."""
    return tuple(VatRow(r.rate, -r.base, -r.vat) for r in vat_summary(credited, vat_on_net_credit))
