"""VAT per rate on the net amount; a net credit carries no VAT unless configured (docs/market.md §3.1)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from gateway.rating.core import PricedLine, vat_breakdown
from gateway.rating.core.vat import VatLine

D = Decimal
T0, T1 = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)


def line(amount: str, rate: str) -> PricedLine:
    return PricedLine("p", "retail", "EM-SPOT", "spot_energy", T0, T1, D(1), "kWh", D(1), D(amount), "x", D(rate))


def test_vat_is_computed_once_per_rate_on_the_sum_and_rounded_half_up() -> None:
    lines = [line("10.01", "25.5"), line("0.01", "25.5"), line("5.00", "10")]
    # 10.02 × 25.5 % = 2.5551 → 2.56; 5.00 × 10 % = 0.50
    assert vat_breakdown(lines) == [VatLine(D(10), D("5.00"), D("0.50")), VatLine(D("25.5"), D("10.02"), D("2.56"))]


def test_a_net_credit_carries_no_vat_unless_configured() -> None:
    lines = [line("-4.80", "24"), line("1.00", "24")]
    assert vat_breakdown(lines) == [VatLine(D(24), D("-3.80"), D("0.00"))]
    assert vat_breakdown(lines, vat_on_net_credit=True) == [VatLine(D(24), D("-3.80"), D("-0.91"))]
