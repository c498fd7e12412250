"""Energy charges laid out on a grid: a price numerator and a line segment per interval.

A charge is computed once per period and product and then applied to any number of accounting points
(the batch engine broadcasts it). A segment groups the intervals that end up on one priced line: same
component, same price row and same VAT rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from gateway.rating.core.align import PricesMissingError, spot_on_grid
from gateway.rating.core.calendar import Grid
from gateway.rating.core.catalogue import Catalogue, Product, Segment, VatKind
from gateway.rating.core.dated import DatedTable
from gateway.rating.core.money import from_quanta, to_quanta
from gateway.rating.core.series import PriceSeries

VAT_KIND_OF_SEGMENT = {
    Segment.RETAIL: VatKind.ELECTRICITY_SALES,
    Segment.NETWORK: VatKind.NETWORK,
    Segment.DISTRICT_HEATING: VatKind.DISTRICT_HEATING,
}


class CatalogueGapError(ValueError):
    """A billed interval has no valid price, tax or VAT row in the catalogue."""


@dataclass(frozen=True)
class SegmentInfo:
    component: str
    product_code: str
    legal_entity: str
    vat_kind: VatKind
    vat_rate: Decimal
    tax_class: str | None
    unit_price: Decimal | None  # €/kWh; None = varies per interval (shown volume-weighted)
    start: datetime
    end: datetime


@dataclass(frozen=True, eq=False)
class EnergyCharge:
    """Per segment: ``amount = Σ energy × price_num / denominator``; ``quantity = Σ energy × share``."""

    segment_of: npt.NDArray[np.int64]  # per interval; −1 = not billed by this charge
    price_num: npt.NDArray[np.int64]
    denominator: int
    share: Decimal
    segments: tuple[SegmentInfo, ...]
    line_unit: str = "kWh"


def _segments(
    grid: Grid, billed: npt.NDArray[np.bool_], keys: Sequence[npt.NDArray[np.int64]]
) -> tuple[npt.NDArray[np.int64], list[tuple[tuple[int, ...], datetime, datetime]]]:
    segment_of = np.full(grid.n, -1, dtype=np.int64)
    index = np.flatnonzero(billed)
    if index.size == 0:
        return segment_of, []
    stacked = np.stack([k[index] for k in keys], axis=1)
    unique, inverse = np.unique(stacked, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    firsts = np.full(len(unique), grid.n, dtype=np.int64)
    lasts = np.full(len(unique), -1, dtype=np.int64)
    np.minimum.at(firsts, inverse, index)
    np.maximum.at(lasts, inverse, index)
    order = np.argsort(firsts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    segment_of[index] = rank[inverse]
    info = [
        (tuple(int(v) for v in unique[i]), grid.instant(int(firsts[i])), grid.instant(int(lasts[i]) + 1)) for i in order
    ]
    return segment_of, info


def _vat_indices(
    catalogue: Catalogue, kind: VatKind, grid: Grid, billed: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    indices = catalogue.vat_table(kind).indices(grid.epoch)
    if np.any(billed & (indices < 0)):
        first = grid.instant(int(np.flatnonzero(billed & (indices < 0))[0]))
        raise CatalogueGapError(f"no {kind} VAT rate valid at {first.isoformat()}")
    return indices


def _row_indices(
    table: DatedTable[object], what: str, grid: Grid, billed: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    indices = table.indices(grid.epoch)
    if np.any(billed & (indices < 0)):
        first = grid.instant(int(np.flatnonzero(billed & (indices < 0))[0]))
        raise CatalogueGapError(f"{what} has no price row valid at {first.isoformat()}")
    return indices


def slot_mask(product: Product, slot: str, catalogue: Catalogue, grid: Grid) -> npt.NDArray[np.bool_]:
    rules = catalogue.calendar
    if slot in ("energy", "margin"):
        return np.ones(grid.n, dtype=np.bool_)
    if slot == "day":
        return rules.day_mask(grid)
    if slot == "night":
        return ~rules.day_mask(grid)
    if slot == "winter_weekday":
        return rules.winter_weekday_mask(grid)
    if slot == "other":
        return ~rules.winter_weekday_mask(grid)
    if product.kind == "monthly":
        return np.asarray(grid.local_month == int(slot[1:]))
    if slot in product.seasons:
        return np.isin(grid.local_month, product.seasons[slot])
    raise ValueError(f"unknown slot {slot!r} of product {product.code}")


def component_name(product: Product, slot: str) -> str:
    if slot == "margin":
        return "spot_margin"
    if slot == "energy":
        return "energy_fixed" if product.kind == "hybrid" else "energy"
    return f"energy_{slot}"


def catalogue_energy_charges(
    product: Product,
    catalogue: Catalogue,
    grid: Grid,
    billed: npt.NDArray[np.bool_],
) -> list[EnergyCharge]:
    """One charge per energy slot of the product, priced from its dated catalogue rows."""
    vat_kind = VAT_KIND_OF_SEGMENT[product.segment]
    vat_idx = _vat_indices(catalogue, vat_kind, grid, billed)
    row_idx = _row_indices(product.prices, f"product {product.code}", grid, billed)  # type: ignore[arg-type]
    rows = product.prices.values()
    vat_rates = catalogue.vat_table(vat_kind).values()
    spot_share = Decimal(1) - product.fixed_share if product.fixed_share is not None else Decimal(1)
    charges = []
    for slot in product.energy_slots():
        share = product.fixed_share if slot == "energy" and product.kind == "hybrid" else Decimal(1)
        if slot == "margin":
            share = spot_share
        assert share is not None
        in_slot = billed & slot_mask(product, slot, catalogue, grid)
        by_row = np.array([to_quanta(r.energy[slot]) for r in rows], dtype=np.int64)
        share_num, share_den = share.as_integer_ratio()
        price = by_row[np.maximum(row_idx, 0)]
        segment_of, infos = _segments(grid, in_slot, [row_idx, vat_idx])
        segments = tuple(
            SegmentInfo(
                component=component_name(product, slot),
                product_code=product.code,
                legal_entity=product.legal_entity,
                vat_kind=vat_kind,
                vat_rate=vat_rates[v],
                tax_class=None,
                unit_price=from_quanta(int(by_row[r])),
                start=start,
                end=end,
            )
            for (r, v), start, end in infos
        )
        charges.append(EnergyCharge(segment_of, price * share_num, share_den, share, segments, product.line_unit))
    return charges


def spot_energy_charge(
    product: Product,
    catalogue: Catalogue,
    grid: Grid,
    billed: npt.NDArray[np.bool_],
    prices: Sequence[PriceSeries],
) -> EnergyCharge:
    """The day-ahead price part of a spot or hybrid product (margin is a catalogue slot)."""
    assert product.price_zone is not None
    vat_kind = VAT_KIND_OF_SEGMENT[product.segment]
    vat_idx = _vat_indices(catalogue, vat_kind, grid, billed)
    numerator, align_den, present = spot_on_grid(prices, product.price_zone, grid)
    if np.any(billed & ~present):
        first = grid.instant(int(np.flatnonzero(billed & ~present)[0]))
        raise PricesMissingError(f"no {product.price_zone} day-ahead price for {first.isoformat()}")
    share = Decimal(1) - product.fixed_share if product.fixed_share is not None else Decimal(1)
    share_num, share_den = share.as_integer_ratio()
    vat_rates = catalogue.vat_table(vat_kind).values()
    segment_of, infos = _segments(grid, billed, [vat_idx])
    segments = tuple(
        SegmentInfo("spot_energy", product.code, product.legal_entity, vat_kind, vat_rates[v], None, None, s, e)
        for (v,), s, e in infos
    )
    return EnergyCharge(segment_of, numerator * share_num, align_den * share_den, share, segments, product.line_unit)


def electricity_tax_charge(
    tax_class: str,
    legal_entity: str,
    product_code: str,
    catalogue: Catalogue,
    grid: Grid,
    billed: npt.NDArray[np.bool_],
) -> EnergyCharge:
    """Electricity tax per kWh delivered, invoiced by the distribution company (docs/market.md §3.3)."""
    table = catalogue.tax_table(tax_class)
    row_idx = _row_indices(table, f"electricity tax class {tax_class}", grid, billed)  # type: ignore[arg-type]
    vat_idx = _vat_indices(catalogue, VatKind.ELECTRICITY_TAX, grid, billed)
    by_row = np.array([to_quanta(r.total) for r in table.values()], dtype=np.int64)
    vat_rates = catalogue.vat_table(VatKind.ELECTRICITY_TAX).values()
    segment_of, infos = _segments(grid, billed, [row_idx, vat_idx])
    segments = tuple(
        SegmentInfo(
            "electricity_tax",
            product_code,
            legal_entity,
            VatKind.ELECTRICITY_TAX,
            vat_rates[v],
            tax_class,
            from_quanta(int(by_row[r])),
            s,
            e,
        )
        for (r, v), s, e in infos
    )
    return EnergyCharge(segment_of, by_row[np.maximum(row_idx, 0)], 1, Decimal(1), segments)


def product_energy_charges(
    product: Product,
    catalogue: Catalogue,
    grid: Grid,
    billed: npt.NDArray[np.bool_],
    prices: Sequence[PriceSeries] = (),
    tax_class: str | None = None,
) -> list[EnergyCharge]:
    """Every per-energy charge of one product; network products add the electricity tax."""
    charges = catalogue_energy_charges(product, catalogue, grid, billed)
    if product.kind in ("spot", "hybrid"):
        charges.insert(0, spot_energy_charge(product, catalogue, grid, billed, prices))
    if product.segment is Segment.NETWORK and tax_class is not None:
        charges.append(electricity_tax_charge(tax_class, product.legal_entity, product.code, catalogue, grid, billed))
    return charges
