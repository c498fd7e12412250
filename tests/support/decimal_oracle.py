"""A slow, obviously-correct Decimal rating of energy charges, used only by tests and the benchmark.

It shares no arithmetic with the vectorised engine: it walks interval by interval with ``datetime`` and
``zoneinfo``, looks rows up by scanning their validity, averages quarter prices with Decimal and sums
``kWh × €/kWh`` per line key. Keys are (product code, component, VAT rate, line start, line end) so that
they match the engine's lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, localcontext
from typing import TypeVar

from gateway.rating.core.calendar import HELSINKI, local_midnight_utc
from gateway.rating.core.catalogue import Catalogue, PriceRow, Product, Segment, VatKind
from gateway.rating.core.dated import DatedTable
from gateway.rating.core.inputs import AccountingPoint, Agreement, ProductAssignment
from gateway.rating.core.money import KWH_PER_UNIT, MICRO, round_cents
from gateway.rating.core.quality import Quality
from gateway.rating.core.series import MeteringSeries, PriceSeries

T = TypeVar("T")

OracleKey = tuple[str, str, Decimal, datetime, datetime]
_VAT_KIND = {
    Segment.RETAIL: VatKind.ELECTRICITY_SALES,
    Segment.NETWORK: VatKind.NETWORK,
    Segment.DISTRICT_HEATING: VatKind.DISTRICT_HEATING,
}


@dataclass
class _Acc:
    amount: Decimal
    first: datetime
    last: datetime


def _scan(table: DatedTable[T], instant: datetime) -> tuple[int, T]:
    for i, row in enumerate(table.rows):
        if row.validity.contains(instant):
            return i, row.value
    raise LookupError(f"no row valid at {instant}")


def _slot(product: Product, catalogue: Catalogue, local: datetime) -> list[str]:
    rules = catalogue.calendar
    day = rules.day_start_hour <= local.hour < rules.day_end_hour
    if product.kind in ("time_of_use", "time_of_day"):
        return ["day" if day else "night"]
    if product.kind == "seasonal" and product.segment is not Segment.DISTRICT_HEATING:
        winter = local.month in rules.winter_months and local.weekday() in rules.winter_weekdays and day
        return ["winter_weekday" if winter else "other"]
    if product.kind == "seasonal":
        return [name for name, months in product.seasons.items() if local.month in months]
    if product.kind == "monthly":
        return [f"m{local.month:02d}"]
    return list(product.energy_slots())


def _component(product: Product, slot: str) -> str:
    if slot == "margin":
        return "spot_margin"
    if slot == "energy":
        return "energy_fixed" if product.kind == "hybrid" else "energy"
    return f"energy_{slot}"


def _spot_eur_per_kwh(quarter_prices: dict[datetime, Decimal], start: datetime, minutes: int) -> Decimal:
    quarters = [quarter_prices[start + timedelta(minutes=15 * i)] for i in range(minutes // 15)]
    return sum(quarters, Decimal(0)) / len(quarters) / 1000


def reference_energy_amounts(
    point: AccountingPoint,
    agreement: Agreement | None,
    catalogue: Catalogue,
    period_start: date,
    period_end: date,
    metering: Sequence[MeteringSeries],
    prices: Sequence[PriceSeries] = (),
) -> dict[OracleKey, Decimal]:
    """Exact (unrounded) € amount of every energy line (per-kWh charges and electricity tax)."""
    quarter_prices: dict[datetime, Decimal] = {}
    for series in prices:
        for instant, price in zip(series.instants(), series.prices_eur_per_mwh, strict=True):
            for q in range(series.resolution_minutes // 15):
                quarter_prices[instant + timedelta(minutes=15 * q)] = price
    values: dict[datetime, tuple[int, int, int, str]] = {}
    for s in sorted(metering, key=lambda s: s.version):
        step = timedelta(minutes=s.resolution_minutes)
        for i in range(len(s.values)):
            values[s.start + i * step] = (int(s.values[i]), int(s.quality[i]), s.resolution_minutes, s.unit)

    assignments: list[tuple[ProductAssignment, Product]] = []
    if agreement is not None:
        assignments.append((agreement.as_assignment(), catalogue.products[agreement.product_code]))
    for a in (*point.network_products, *point.heating_products):
        assignments.append((a, catalogue.products[a.product_code]))

    lines: dict[tuple[str, str, Decimal, int], _Acc] = {}

    def add(key: tuple[str, str, Decimal, int], amount: Decimal, instant: datetime, end: datetime) -> None:
        acc = lines.setdefault(key, _Acc(Decimal(0), instant, end))
        acc.amount += amount
        acc.first, acc.last = min(acc.first, instant), max(acc.last, end)

    start, stop = local_midnight_utc(period_start), local_midnight_utc(period_end)
    with localcontext() as ctx:
        ctx.prec = 60
        for instant in sorted(v for v in values if start <= v < stop):
            micro, quality, minutes, unit = values[instant]
            end = instant + timedelta(minutes=minutes)
            # a missing interval is never invented: it adds nothing, but still belongs to its line
            kwh = Decimal(0) if Quality(quality).is_missing else Decimal(micro) * KWH_PER_UNIT[unit] / MICRO
            local = instant.astimezone(HELSINKI)
            for assignment, product in assignments:
                if not (assignment.start <= local.date() and (assignment.end is None or local.date() < assignment.end)):
                    continue
                if local.date() < period_start:
                    continue
                vat_row, vat = _scan(catalogue.vat[_VAT_KIND[product.segment]], instant)
                row_index, row = _scan(product.prices, instant)
                assert isinstance(row, PriceRow)
                fixed = product.fixed_share if product.fixed_share is not None else Decimal(0)
                spot_share = Decimal(1) - fixed if product.kind == "hybrid" else Decimal(1)
                if product.kind in ("spot", "hybrid"):
                    price = _spot_eur_per_kwh(quarter_prices, instant, minutes)
                    add((product.code, "spot_energy", vat, vat_row), kwh * spot_share * price, instant, end)
                for slot in _slot(product, catalogue, local):
                    share = fixed if (product.kind == "hybrid" and slot == "energy") else Decimal(1)
                    if slot == "margin":
                        share = spot_share
                    amount = kwh * share * row.energy[slot]
                    add(
                        (product.code, _component(product, slot), vat, row_index * 1000 + vat_row),
                        amount,
                        instant,
                        end,
                    )
                if product.segment is Segment.NETWORK and point.tax_class is not None:
                    tax_index, tax = _scan(catalogue.electricity_tax[point.tax_class], instant)
                    tax_vat_row, tax_vat = _scan(catalogue.vat[VatKind.ELECTRICITY_TAX], instant)
                    add(
                        (product.code, "electricity_tax", tax_vat, tax_index * 1000 + tax_vat_row),
                        kwh * tax.total,
                        instant,
                        end,
                    )
    return {(code, comp, vat, acc.first, acc.last): acc.amount for (code, comp, vat, _), acc in lines.items()}


def reference_line_amounts(amounts: dict[OracleKey, Decimal]) -> dict[OracleKey, Decimal]:
    """The oracle's amounts rounded like invoice lines."""
    return {key: round_cents(value) for key, value in amounts.items()}
