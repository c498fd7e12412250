"""Money and price units, and the one rounding rule.

Rounding rule (documented in catalogue/README.md): every priced line's amount is the exact sum of its
interval amounts, rounded once to whole cents with ROUND_HALF_UP (ties away from zero, also for credits).
Interval amounts are never rounded. Unit prices shown on a line are informative and carry
``UNIT_PRICE_PLACES`` decimals.

Energy prices are exact integers of ``PRICE_QUANTUM`` (0.000001 €/kWh = 0.0001 c/kWh = 0.001 €/MWh);
the catalogue loader and the price parsers reject anything finer, so that every interval amount is an
integer product (micro-units × quanta) and the vectorised engine can prove its sums exact.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ROUNDING = ROUND_HALF_UP
PRICE_QUANTUM = Decimal("0.000001")  # €/kWh
QUANTA_PER_EUR_PER_KWH = 1_000_000
MICRO = 1_000_000
UNIT_PRICE_PLACES = Decimal("0.000001")

# kWh per unit of a metering series
KWH_PER_UNIT: dict[str, Decimal] = {"Wh": Decimal("0.001"), "kWh": Decimal(1), "MWh": Decimal(1000)}


def round_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUNDING)


def to_quanta(price_eur_per_kwh: Decimal) -> int:
    """Exact integer number of price quanta; raises when the price is finer than the quantum."""
    scaled = price_eur_per_kwh * QUANTA_PER_EUR_PER_KWH
    if scaled != scaled.to_integral_value():
        raise ValueError(f"price {price_eur_per_kwh} €/kWh is finer than the quantum {PRICE_QUANTUM} €/kWh")
    return int(scaled)


def from_quanta(quanta: int) -> Decimal:
    return Decimal(quanta) / QUANTA_PER_EUR_PER_KWH


def div_round_half_up(numerator: int, denominator: int) -> int:
    """Integer numerator/denominator rounded half away from zero (denominator > 0)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return q if numerator >= 0 else -q


def plain(value: Decimal) -> Decimal:
    """Without trailing zeros and never in exponent notation (``720``, not ``7.2E+2``)."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal.as_tuple().exponent > 0 else normal  # type: ignore[operator]
