"""Re-rating: the difference between a period's earlier lines and its lines rated again, per component.

Issued invoices are never edited (docs/market.md §3.5); a new metering or price version produces delta lines
that invoicing adds to the next invoice or a credit note. Same inputs twice → no delta lines at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal

from gateway.rating.core.lines import LineKey, PricedLine


def _merge(lines: Iterable[PricedLine]) -> dict[LineKey, PricedLine]:
    merged: dict[LineKey, PricedLine] = {}
    for line in lines:
        if line.key in merged:
            earlier = merged[line.key]
            line = replace(
                line,
                quantity=earlier.quantity + line.quantity,
                amount=earlier.amount + line.amount,
                estimated_intervals=earlier.estimated_intervals + line.estimated_intervals,
                missing_intervals=earlier.missing_intervals + line.missing_intervals,
            )
        merged[line.key] = line
    return merged


def delta_lines(previous: Iterable[PricedLine], current: Iterable[PricedLine]) -> list[PricedLine]:
    """``current − previous`` per line key; keys whose quantity and amount are unchanged give nothing."""
    before, after = _merge(previous), _merge(current)
    deltas = []
    for key in [*after, *(k for k in before if k not in after)]:
        old, new = before.get(key), after.get(key)
        if new is None:
            assert old is not None
            deltas.append(old.negated())
            continue
        if old is None:
            deltas.append(replace(new, is_delta=True))
            continue
        quantity, amount = new.quantity - old.quantity, new.amount - old.amount
        if quantity == 0 and amount == 0:
            continue
        deltas.append(replace(new, quantity=quantity, amount=amount, is_delta=True))
    return deltas


def total(lines: Iterable[PricedLine]) -> Decimal:
    return sum((line.amount for line in lines), Decimal(0))
