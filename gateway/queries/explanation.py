"""Why is this on my invoice: each invoice line explained from what the rating that priced it used.

For every line: the quantity with its quality (estimated and missing intervals), the metering versions behind it
(per version the message, the transaction and the OBS positions — `SEQ` — that fall into the line's period,
with their sum and quality), the price and tariff rows with their validity (catalogue version, the product's
price row, the electricity tax row, the spot prices of the period with the price imports they came from), the
VAT rows, and the formula with the line's own numbers. `message_ids` lists every message behind the line, each
an id of the message log (`/api/messages/{id}`): the E66 messages, the price imports, the catalogue, the F04
agreement (retail) or the E58 master data (network: tax class, main fuse).

A credit note's line is explained from the line it credits (signs turned); a corrected invoice and a credit note
also get `correction`: the rating revisions compared, the delta lines (what changed), and which messages or
price imports caused the re-rating (the rating's `cause` resolved to its message, and the inputs that changed).

Everything is read from the store as the rating recorded it: the catalogue version the rating used (not the
active one), the metering versions it lists, and spot prices as they were when the rating was made.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.domain.periods import RESOLUTION_MINUTES
from gateway.queries.invoices import invoice_lines, line_json, message_log_id
from gateway.rating.catalogues import _parsed as parsed_catalogue  # the store's cache of parsed catalogue versions
from gateway.rating.core import delta_lines
from gateway.rating.core.calendar import HELSINKI, add_months, local_midnight_utc
from gateway.rating.core.catalogue import Catalogue, PriceRow, Product, VatKind
from gateway.rating.core.dated import DatedTable
from gateway.rating.core.fees import fuse_key
from gateway.rating.core.quality import ESTIMATED_CODES, MISSING_CODES
from gateway.rating.service import line_from_json, normalise_fuse
from gateway.store.billing_tables import BillingAdjustmentRow, InvoiceLineRow, InvoiceRow
from gateway.store.metering import unpack
from gateway.store.rating_tables import (
    CatalogueVersion,
    ProductAssignmentRow,
    RatingResult,
    SpotPrice,
    SpotPriceImport,
)
from gateway.store.tables import AccountingPointRow, MeteringSeriesRow, SalesAgreementRow
from outbox.schema import outbox_message

_MICRO: Final = Decimal(1_000_000)
_SIX: Final = Decimal("0.000001")
_SERIES_SHOWN: Final = 400  # a line over a year of daily messages lists them all; more are counted

# The formula of each kind of line, in English and Finnish (the pages show the reader's language).
FORMULAS: Final[dict[str, tuple[str, str]]] = {
    "energy": ("Σ interval {unit} × unit price", "Σ jakson {unit} × yksikköhinta"),
    "energy_fixed": ("Σ interval {unit} × fixed share {share} × fixed price",
                     "Σ jakson {unit} × kiinteä osuus {share} × kiinteä hinta"),
    "spot_energy": ("Σ quarter-hour kWh × that quarter's spot price{share} (an hourly value: × the mean of its "
                    "four quarter prices)",
                    "Σ vartin kWh × vartin pörssihinta{share} (tuntiarvo: × tunnin neljän varttihinnan keskiarvo)"),
    "spot_margin": ("Σ kWh × margin{share}", "Σ kWh × marginaali{share}"),
    "slot": ("Σ {unit} of {slot} × the price of those hours", "Σ {unit} ajalta {slot} × sen ajan hinta"),
    "electricity_tax": ("Σ kWh delivered × (electricity tax + security of supply fee), tax class {tax_class}",
                        "Σ toimitetut kWh × (sähkövero + huoltovarmuusmaksu), veroluokka {tax_class}"),
    "basic_fee": ("days / days in the month × monthly fee", "päivät / kuukauden päivät × kuukausimaksu"),
    "power_fee": ("billed kW × €/kW a month × days / days in the month (rule {rule})",
                  "laskutettava kW × €/kW kuukaudessa × päivät / kuukauden päivät (sääntö {rule})"),
    "adjustment": ("the amount recorded for this invoice", "tälle laskulle kirjattu summa"),
}


@dataclass(frozen=True)
class _Interval:
    start: datetime
    end: datetime

    def overlaps(self, start: datetime, end: datetime | None) -> bool:
        return start < self.end and (end is None or end > self.start)


@dataclass
class _Context:
    """What several lines of one invoice share: ratings, catalogue versions, metering rows, spot prices."""

    session: Session
    ratings: dict[int, RatingResult | None] = field(default_factory=dict)
    catalogues: dict[int, tuple[Catalogue, str] | None] = field(default_factory=dict)
    series: dict[int, MeteringSeriesRow] = field(default_factory=dict)

    def rating(self, rating_id: int | None) -> RatingResult | None:
        if rating_id is None:
            return None
        if rating_id not in self.ratings:
            self.ratings[rating_id] = self.session.get(RatingResult, rating_id)
        return self.ratings[rating_id]

    def catalogue(self, version_id: int | None) -> Catalogue | None:
        if version_id is None:
            return None
        if version_id not in self.catalogues:
            row = self.session.get(CatalogueVersion, version_id)
            self.catalogues[version_id] = None if row is None else (
                parsed_catalogue(row.sha256, row.format, row.content, row.source)[0], row.sha256)
        found = self.catalogues[version_id]
        return None if found is None else found[0]

    def series_rows(self, ids: Sequence[int]) -> list[MeteringSeriesRow]:
        wanted = [i for i in ids if i not in self.series]
        for start in range(0, len(wanted), 500):
            for row in self.session.execute(select(MeteringSeriesRow).where(
                    col(MeteringSeriesRow.id).in_(wanted[start:start + 500]))).scalars():
                assert row.id is not None
                self.series[row.id] = row
        return [self.series[i] for i in ids if i in self.series]


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _overlapping(table: DatedTable[Any], start: datetime, end: datetime) -> list[tuple[Any, Any]]:
    return [(d.validity, d.value) for d in table.rows if d.validity.valid_from < end and
            (d.validity.valid_to is None or d.validity.valid_to > start)]


def _validity(v: Any) -> dict[str, Any]:
    return {"valid_from": _iso(v.valid_from), "valid_to": _iso(v.valid_to)}


# -- one line ---------------------------------------------------------------------------------------------------
def _slot_of(component: str) -> str | None:
    if component == "spot_margin":
        return "margin"
    if component in ("energy", "energy_fixed"):
        return "energy"
    if component.startswith("energy_"):
        return component[len("energy_"):]
    return None


def _slot_text(slot: str, product: Product | None, catalogue: Catalogue) -> tuple[str, str]:
    c = catalogue.calendar
    day = f"{c.day_start_hour:02d}–{c.day_end_hour:02d}"
    if slot == "day":
        return f"day hours ({day} local time)", f"päivä ({day} paikallista aikaa)"
    if slot == "night":
        return f"night hours ({c.day_end_hour:02d}–{c.day_start_hour:02d})", \
            f"yö ({c.day_end_hour:02d}–{c.day_start_hour:02d})"
    if slot == "winter_weekday":
        months = ", ".join(str(m) for m in c.winter_months)
        return (f"winter weekdays (months {months}, Mon–Sat {day})",
                f"talviarkipäivä (kuukaudet {months}, ma–la {day})")
    if slot == "other":
        return "the other hours (Sundays included)", "muu aika (sunnuntait mukaan lukien)"
    if slot.startswith("m") and slot[1:].isdigit():
        return f"month {int(slot[1:])}", f"kuukausi {int(slot[1:])}"
    if product is not None and slot in product.seasons:
        months = ", ".join(str(m) for m in product.seasons[slot])
        return f"season {slot} (months {months})", f"kausi {slot} (kuukaudet {months})"
    return slot, slot


def _formula(component: str, data: dict[str, Any], product: Product | None, catalogue: Catalogue | None
             ) -> dict[str, str]:
    unit = str(data.get("unit") or "kWh")
    share = ""
    if product is not None and product.fixed_share is not None and component in ("spot_energy", "spot_margin"):
        share = f" × {Decimal(1) - product.fixed_share} (spot share)"
    slot = _slot_of(component)
    key = component
    params: dict[str, Any] = {"unit": unit, "share": share, "tax_class": data.get("tax_class"),
                              "rule": product.power_rule if product else None}
    if component == "energy_fixed" and product is not None:
        params["share"] = str(product.fixed_share)
    elif slot is not None and component not in ("energy", "energy_fixed", "spot_margin") and catalogue is not None:
        key = "slot"
        params["slot_en"], params["slot_fi"] = _slot_text(slot, product, catalogue)
    if key not in FORMULAS:
        key = "energy"
    en, fi = FORMULAS[key]
    text_en = en.format(**params, slot=params.get("slot_en", ""))
    text_fi = fi.format(**params, slot=params.get("slot_fi", ""))
    return {"key": key, "text": text_en, "text_fi": text_fi,
            "calculation": _calculation(component, data)}


def _calculation(component: str, data: dict[str, Any]) -> str:
    q, unit, price, amount = data.get("quantity"), data.get("unit"), data.get("unit_price"), data.get("amount")
    if component in ("basic_fee", "power_fee") and data.get("days") is not None:
        days, dim = data["days"], data["days_in_month"]
        if unit == "day":
            monthly = (Decimal(str(price)) * Decimal(dim)).quantize(Decimal("0.01"))
            return f"{days}/{dim} × ≈{monthly} €/month ({price} €/day) = {amount} €"
        return f"{q} {unit} × {price} €/{unit} a month × {days}/{dim} = {amount} €"
    # A spot line's unit price is the volume-weighted mean (rounded): the product only comes near the amount.
    equals = "≈" if component == "spot_energy" else "="
    return f"{q} {unit} × {price} €/{unit} {equals} {amount} €"


def _price_rows(product: Product, component: str, start: datetime, end: datetime, fuse: str | None,
                assignment: ProductAssignmentRow | None, version: int) -> list[dict[str, Any]]:
    """The product's dated price rows the line was priced with, and the value that priced it."""
    rows = []
    slot = _slot_of(component)
    for validity, row in _overlapping(product.prices, start, end):
        item: dict[str, Any] = {"kind": "product_price", "product": product.code, "product_name": product.name,
                                "catalogue_version": version, **_validity(validity)}
        item |= _price_value(row, component, slot, fuse, assignment)
        rows.append(item)
    return rows


def _price_value(row: PriceRow, component: str, slot: str | None, fuse: str | None,
                 assignment: ProductAssignmentRow | None) -> dict[str, Any]:
    if component == "basic_fee":
        if row.basic_fee_formula is not None:
            formula = row.basic_fee_formula
            raw = None if assignment is None else (
                assignment.contracted_flow_m3h if formula.basis == "flow_m3h" else assignment.contracted_power_kw)
            basis = Decimal(raw) if raw else None
            annual = formula.annual_fee(basis) if basis is not None else None
            return {"field": f"basic fee by {formula.basis}", "basis": None if basis is None else str(basis),
                    "multiplier": str(formula.multiplier), "eur_per_year": None if annual is None else str(annual),
                    "eur_per_month": None if annual is None else str((annual / 12).quantize(_SIX))}
        if row.fuse_fees:
            fees = {fuse_key(k): (k, v) for k, v in row.fuse_fees.items()}
            found = fees.get(fuse_key(fuse)) if fuse else None
            return {"field": "basic fee by main fuse", "main_fuse": fuse,
                    "eur_per_month": None if found is None else str(found[1])}
        return {"field": "basic fee", "eur_per_month": None if row.basic_fee_month is None
                else str(row.basic_fee_month)}
    if component == "power_fee":
        return {"field": "power fee", "eur_per_kw_month": None if row.power_fee_kw_month is None
                else str(row.power_fee_kw_month)}
    if slot is not None and slot in row.energy:
        return {"field": f"energy.{slot}", "eur_per_unit": str(row.energy[slot])}
    return {"field": component}


def _tax_rows(catalogue: Catalogue, tax_class: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    table = catalogue.electricity_tax.get(tax_class)
    if table is None:
        return []
    return [{"kind": "electricity_tax", "tax_class": tax_class, "energy_tax_eur_per_kwh": str(row.energy_tax),
             "security_of_supply_fee_eur_per_kwh": str(row.security_of_supply_fee),
             "total_eur_per_kwh": str(row.total), **_validity(validity)}
            for validity, row in _overlapping(table, start, end)]


def _vat_rows(catalogue: Catalogue, vat_kind: str | None, start: datetime, end: datetime) -> list[dict[str, Any]]:
    try:
        table = catalogue.vat.get(VatKind(vat_kind)) if vat_kind else None
    except ValueError:
        table = None
    if table is None:
        return []
    return [{"kind": vat_kind, "rate": str(rate), **_validity(validity)}
            for validity, rate in _overlapping(table, start, end)]


def _spot_prices(session: Session, zone: str, start: datetime, end: datetime, as_of: datetime) -> dict[str, Any]:
    """The day-ahead prices of the line's period as they stood when the rating was made: count, range, mean, and
    the price imports they came from."""
    latest: dict[tuple[datetime, int], tuple[int, int, int]] = {}
    for at, minutes, version, price, import_id in session.execute(
            select(col(SpotPrice.interval_start), col(SpotPrice.resolution_minutes), col(SpotPrice.version),
                   col(SpotPrice.price_milli_eur_per_mwh), col(SpotPrice.import_id)).where(
                col(SpotPrice.zone) == zone, col(SpotPrice.interval_start) >= start,
                col(SpotPrice.interval_start) < end, col(SpotPrice.imported_at) <= as_of)):
        key = (at, int(minutes))
        if key not in latest or latest[key][0] < version:
            latest[key] = (int(version), int(price), int(import_id))
    if not latest:
        return {"zone": zone, "intervals": 0, "imports": []}
    prices = np.array([p for _, p, _ in latest.values()], dtype=np.int64)
    imports = sorted({i for _, _, i in latest.values()})
    found = {r.id: r for r in session.execute(select(SpotPriceImport).where(
        col(SpotPriceImport.id).in_(imports))).scalars()}

    def per_kwh(milli: float | int) -> str:
        return str((Decimal(str(milli)) / Decimal(1_000_000)).quantize(_SIX))

    return {
        "zone": zone, "intervals": len(latest), "resolution_minutes": sorted({m for _, m in latest}),
        "min_eur_per_kwh": per_kwh(int(prices.min())), "max_eur_per_kwh": per_kwh(int(prices.max())),
        "mean_eur_per_kwh": per_kwh(float(prices.mean())),
        "imports": [{"id": f"price-{i}", "source": found[i].source if i in found else None,
                     "imported_at": _iso(found[i].imported_at) if i in found else None,
                     "document_id": found[i].document_id if i in found else None} for i in imports],
    }


def _positions(row: MeteringSeriesRow, start: datetime, end: datetime) -> dict[str, Any] | None:
    """The series' positions (1-based SEQ) inside [start, end), their sum and quality; None if none fall in."""
    if not (row.period_start < end and row.period_end > start):
        return None
    values, quality = unpack(row)
    minutes = RESOLUTION_MINUTES.get(row.resolution)
    if minutes is None:  # a calendar resolution (P1D, P1M): the whole series counts
        lo, hi = 0, len(values)
    else:
        step = timedelta(minutes=minutes)
        lo = max(0, -(-(max(start, row.period_start) - row.period_start) // step))
        hi = min(len(values), (min(end, row.period_end) - row.period_start) // step)
    if hi <= lo:
        return None
    part_q = quality[lo:hi]
    present = ~np.isin(part_q, MISSING_CODES)
    total = int(values[lo:hi][present].sum())
    return {"first_seq": lo + 1, "last_seq": hi, "count": hi - lo,
            "quantity": str((Decimal(total) / _MICRO).normalize()) if total else "0",
            "estimated": int(np.isin(part_q, ESTIMATED_CODES).sum()), "missing": int((~present).sum())}


def _metering(ctx: _Context, rating: RatingResult, start: datetime, end: datetime) -> list[dict[str, Any]]:
    ids = [int(pair[0]) for pair in rating.inputs.get("metering", [])]
    used = []
    for row in sorted(ctx.series_rows(ids), key=lambda r: (r.period_start, r.id or 0)):
        positions = _positions(row, start, end)
        if positions is None:
            continue
        message = f"in-{row.message_pk}" if row.message_pk else None
        used.append({
            "series_id": row.id, "message": message, "transaction_id": row.transaction_id, "version": row.version,
            "resolution": row.resolution, "unit": row.unit, "period_start": _iso(row.period_start),
            "period_end": _iso(row.period_end), "positions": positions,
        })
    return used


def _point_inputs(session: Session, rating: RatingResult) -> tuple[list[SalesAgreementRow], AccountingPointRow | None,
                                                                   list[ProductAssignmentRow]]:
    inputs = rating.inputs
    agreements = list(session.execute(select(SalesAgreementRow).where(
        col(SalesAgreementRow.id).in_([int(i) for i in inputs.get("agreements", [])]))).scalars())
    master = session.get(AccountingPointRow, int(inputs["master_data"])) if inputs.get("master_data") else None
    assignments = list(session.execute(select(ProductAssignmentRow).where(
        col(ProductAssignmentRow.id).in_([int(i) for i in inputs.get("assignments", []) if i is not None])
    )).scalars())
    return agreements, master, assignments


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def explain_rated(ctx: _Context, rating: RatingResult, index: int) -> dict[str, Any]:
    """The explanation of line `index` of a recorded rating (the part every invoice line made from it shares)."""
    session = ctx.session
    data = rating.lines[index]
    component = str(data["component"])
    start, end = _instant(data["period_start"]), _instant(data["period_end"])
    catalogue = ctx.catalogue(rating.catalogue_version_id)
    product = catalogue.products.get(data["product_code"]) if catalogue is not None else None
    agreements, master, assignments = _point_inputs(session, rating)
    assignment = next((a for a in assignments if a.product_code == data["product_code"]), None)
    fuse_of_master = not (assignment and assignment.main_fuse)  # the assignment's own fuse wins over the E58's
    fuse = normalise_fuse(master.main_fuse if master else None) if fuse_of_master else (
        assignment.main_fuse if assignment else None)
    message_ids: list[str] = []
    tariff: list[dict[str, Any]] = []
    vat: list[dict[str, Any]] = []
    spot: dict[str, Any] | None = None
    if catalogue is not None and rating.catalogue_version_id is not None:
        version = rating.catalogue_version_id
        if product is not None and component != "electricity_tax" and component != "spot_energy":
            tariff += _price_rows(product, component, start, end, fuse, assignment, version)
        if component == "electricity_tax" and data.get("tax_class"):
            tariff += _tax_rows(catalogue, str(data["tax_class"]), start, end)
        vat = _vat_rows(catalogue, data.get("vat_kind"), start, end)
        if component != "spot_energy":
            message_ids.append(f"catalogue-{version}")
    if component == "spot_energy" and product is not None and product.price_zone:
        spot = _spot_prices(session, product.price_zone, start, end, rating.created_at)
        message_ids += [i["id"] for i in spot["imports"]]
    metering_from = start
    if component == "power_fee" and product is not None and product.power_rule and catalogue is not None:
        rule = catalogue.power_rules.get(product.power_rule)
        if rule is not None and rule.lookback_months > 1:  # the determinant reads the months before too
            month = start.astimezone(HELSINKI).date().replace(day=1)
            metering_from = local_midnight_utc(add_months(month, 1 - rule.lookback_months))
    metering = [] if component == "basic_fee" else _metering(ctx, rating, metering_from, end)
    message_ids += [m["message"] for m in metering if m["message"]]
    segment = product.segment.value if product is not None else None
    if segment == "retail":
        for a in agreements:
            if a.product_code == data["product_code"]:
                message_ids += [f"in-{a.message_pk}"] + ([f"in-{a.ended_by_message_pk}"] if a.ended_by_message_pk
                                                         else [])
    elif segment == "network" and master is not None and (
            component == "electricity_tax" or (component == "basic_fee" and fuse and fuse_of_master)):
        message_ids.append(f"in-{master.message_pk}")  # the tax class (and a fuse not assigned) come from the E58
    quantity_in_positions = sum((Decimal(m["positions"]["quantity"]) for m in metering), Decimal(0))
    return {
        "rating_result": {"id": rating.id, "revision": rating.revision, "line_index": index, "cause": rating.cause,
                          "created_at": _iso(rating.created_at), "catalogue_version": rating.catalogue_version_id},
        "period": {"start": data["period_start"], "end": data["period_end"]},
        "quality": {"estimated_intervals": int(data.get("estimated_intervals", 0)),
                    "missing_intervals": int(data.get("missing_intervals", 0)),
                    "flags": [f for f in data.get("flags", []) if f != "delta"]},
        "formula": _formula(component, data, product, catalogue),
        "tariff": tariff,
        "vat_rows": vat,
        "spot_prices": spot,
        "product": None if product is None else {"code": product.code, "name": product.name, "kind": product.kind,
                                                 "segment": segment, "price_zone": product.price_zone},
        "product_assignment": None if assignment is None else {
            "id": assignment.id, "product_code": assignment.product_code, "valid_from": _iso(assignment.valid_from),
            "valid_to": _iso(assignment.valid_to), "main_fuse": assignment.main_fuse},
        "metering": metering[:_SERIES_SHOWN],
        "metering_versions": len(metering),
        "metering_quantity": str(quantity_in_positions.normalize()) if metering else None,
        "message_ids": sorted(set(message_ids), key=_message_order),
    }


def _message_order(message_id: str) -> tuple[str, int]:
    kind, _, number = message_id.partition("-")
    return kind, int(number) if number.isdigit() else 0


def explain_line(ctx: _Context, line: InvoiceLineRow) -> dict[str, Any]:
    base = line_json(line)
    if line.credits_line_id is not None:
        credited = ctx.session.get(InvoiceLineRow, line.credits_line_id)
        original = ctx.session.get(InvoiceRow, credited.invoice_id) if credited is not None else None
        base["source"] = "credit"
        base["credits"] = None if credited is None else {
            "line_id": credited.id, "invoice_id": credited.invoice_id, "position": credited.position,
            "number": original.number if original else None, "amount": credited.amount,
            "rating_result_id": credited.rating_result_id, "rating_revision": credited.rating_revision}
        if credited is not None:
            inner = _rated_part(ctx, credited)
            return base | inner | {"credited_sign": -1}
        return base | {"message_ids": [], "formula": None}
    if line.rating_result_id is not None:
        return base | {"source": "rating"} | _rated_part(ctx, line)
    if line.adjustment_id is not None:
        return base | {"source": "adjustment"} | _adjustment_part(ctx, line.adjustment_id)
    return base | {"source": "other", "message_ids": [], "formula": None}


def _rated_part(ctx: _Context, line: InvoiceLineRow) -> dict[str, Any]:
    rating = ctx.rating(line.rating_result_id)
    index = line.priced_line_index
    if rating is None or index is None or not 0 <= index < len(rating.lines):
        return {"message_ids": [], "formula": None, "unexplained": "the rating this line came from is not stored"}
    return explain_rated(ctx, rating, index)


def _adjustment_part(ctx: _Context, adjustment_id: int) -> dict[str, Any]:
    row = ctx.session.get(BillingAdjustmentRow, adjustment_id)
    if row is None:
        return {"message_ids": [], "formula": None}
    en, fi = FORMULAS["adjustment"]
    part: dict[str, Any] = {
        "adjustment": {"id": row.id, "kind": row.kind, "amount": row.amount, "vat_rate": row.vat_rate,
                       "description": row.description, "source": row.source, "status": row.status,
                       "accounting_point": row.accounting_point, "period_start": _iso(row.period_start),
                       "period_end": _iso(row.period_end), "rating_result_id": row.rating_result_id,
                       "rating_revision": row.rating_revision, "created_at": _iso(row.created_at)},
        "formula": {"key": "adjustment", "text": en, "text_fi": fi, "calculation": f"{row.amount} €"},
        "message_ids": [],
    }
    rating = ctx.rating(row.rating_result_id)
    if row.kind == "carried_delta" and rating is not None:
        cause = cause_messages(ctx.session, rating.cause)
        part["cause"] = {"text": rating.cause, "message_ids": cause}
        part["message_ids"] = cause
    return part


# -- the whole invoice ------------------------------------------------------------------------------------------
def explain_invoice(session: Session, invoice_id: int) -> dict[str, Any] | None:
    row = session.get(InvoiceRow, invoice_id)
    if row is None:
        return None
    ctx = _Context(session)
    lines = invoice_lines(session, invoice_id)
    explained = [explain_line(ctx, ln) for ln in lines]
    doc = row.document
    by_rate: dict[str, list[int]] = {}
    for ln in lines:
        by_rate.setdefault(str(Decimal(ln.vat_rate).normalize()), []).append(ln.position)
    vat = [v | {"positions": by_rate.get(str(Decimal(v["rate"]).normalize()), []),
                "formula": "Σ line amounts at this rate × rate (rounded half up to cents once); a net credit "
                           "carries no VAT"} for v in doc.get("vat", [])]
    tax = doc.get("electricity_tax")
    if tax is not None:
        tax = tax | {"positions": [ln.position for ln in lines if ln.component == "electricity_tax"]}
    messages = sorted({m for e in explained for m in e.get("message_ids", [])}, key=_message_order)
    return {
        "id": row.id, "invoice_id": row.id, "kind": row.kind, "number": row.number, "entity": row.entity_id,
        "period_start": _iso(row.period_start), "period_end": _iso(row.period_end), "total": row.total,
        "message": message_log_id(invoice_id), "lines": explained, "vat": vat, "electricity_tax": tax,
        "message_ids": messages, "correction": correction(ctx, row, lines),
    }


# -- corrections ------------------------------------------------------------------------------------------------
def correction(ctx: _Context, row: InvoiceRow, lines: Sequence[InvoiceLineRow]) -> dict[str, Any] | None:
    """For a credit note or a corrected invoice: the ratings compared, what changed, and what caused it."""
    session = ctx.session
    if row.original_invoice_id is None:
        return None
    assert row.id is not None
    original = session.get(InvoiceRow, row.original_invoice_id)
    if row.kind == "credit_note":
        credited = [session.get(InvoiceLineRow, ln.credits_line_id) for ln in lines if ln.credits_line_id]
        before = {ln.rating_result_id for ln in credited if ln is not None and ln.rating_result_id}
        sibling = session.execute(select(InvoiceRow).where(
            col(InvoiceRow.original_invoice_id) == row.original_invoice_id, col(InvoiceRow.kind) == "invoice",
            col(InvoiceRow.id) > row.id).order_by(col(InvoiceRow.id)).limit(1)).scalar_one_or_none()
        after = set() if sibling is None else {
            ln.rating_result_id for ln in invoice_lines(session, sibling.id or 0) if ln.rating_result_id}
        documents: dict[str, Any] = {"original_invoice": _doc_link(original), "corrected_invoice": _doc_link(sibling)}
    else:
        after = {ln.rating_result_id for ln in lines if ln.rating_result_id}
        before = set() if original is None else {
            ln.rating_result_id for ln in invoice_lines(session, original.id or 0) if ln.rating_result_id}
        notes = session.execute(select(InvoiceRow).where(
            col(InvoiceRow.original_invoice_id) == row.original_invoice_id, col(InvoiceRow.kind) == "credit_note",
            col(InvoiceRow.id) < row.id).order_by(col(InvoiceRow.id))).scalars().all()
        documents = {"original_invoice": _doc_link(original), "credit_notes": [_doc_link(n) for n in notes]}
    periods = []
    old = [r for r in (ctx.rating(i) for i in sorted(before)) if r is not None]
    new = [r for r in (ctx.rating(i) for i in sorted(after)) if r is not None]
    for later in new:
        earlier = next((r for r in old if (r.accounting_point, r.period_start, r.period_end) ==
                        (later.accounting_point, later.period_start, later.period_end)), None)
        periods.append(_period_change(ctx, row.entity_id, earlier, later))
    messages = sorted({m for p in periods for m in p["message_ids"]}, key=_message_order)
    return {"reason": row.reason, **documents, "periods": periods, "message_ids": messages}


def _doc_link(row: InvoiceRow | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"id": row.id, "kind": row.kind, "number": row.number, "total": row.total,
            "invoice_date": _iso(row.invoice_date), "message": message_log_id(row.id or 0)}


def _period_change(ctx: _Context, entity: str, before: RatingResult | None, after: RatingResult) -> dict[str, Any]:
    session = ctx.session
    old = [line_from_json(d) for d in (before.lines if before else []) if d["legal_entity"] == entity]
    new = [line_from_json(d) for d in after.lines if d["legal_entity"] == entity]
    delta: list[dict[str, str | None]] = [{
        "component": ln.component, "product_code": ln.product_code, "period_start": _iso(ln.period_start),
        "period_end": _iso(ln.period_end), "unit": ln.unit, "quantity": str(ln.quantity), "amount": str(ln.amount),
        "vat_rate": str(ln.vat_rate),
    } for ln in delta_lines(old, new)]
    revisions = session.execute(select(RatingResult).where(
        col(RatingResult.accounting_point) == after.accounting_point,
        col(RatingResult.period_start) == after.period_start, col(RatingResult.period_end) == after.period_end,
        col(RatingResult.revision) > (before.revision if before else 0),
        col(RatingResult.revision) <= after.revision).order_by(col(RatingResult.revision))).scalars().all()
    causes: list[dict[str, Any]] = [{"revision": r.revision, "cause": r.cause, "created_at": _iso(r.created_at),
                                     "message_ids": cause_messages(session, r.cause)} for r in revisions]
    changed = changed_inputs(session, before, after)
    message_ids = {m for c in causes for m in c["message_ids"]} | {m for c in changed for m in c["message_ids"]}
    return {
        "accounting_point": after.accounting_point, "period_start": _iso(after.period_start),
        "period_end": _iso(after.period_end),
        "from_rating": None if before is None else {"id": before.id, "revision": before.revision,
                                                    "total": before.total},
        "to_rating": {"id": after.id, "revision": after.revision, "total": after.total},
        "delta": delta, "delta_total": str(sum((Decimal(str(d["amount"])) for d in delta), Decimal("0.00"))),
        "causes": causes, "changed_inputs": changed,
        "message_ids": sorted(message_ids, key=_message_order),
    }


def changed_inputs(session: Session, before: RatingResult | None, after: RatingResult) -> list[dict[str, Any]]:
    """The inputs of `after` that `before` did not have: new metering versions (and their messages), another
    price import, catalogue version, master data version or agreement rows."""
    was: dict[str, Any] = before.inputs if before is not None else {}
    now = after.inputs
    found: list[dict[str, Any]] = []
    old_series = {(int(s), int(v)) for s, v in was.get("metering", [])}
    new_series = [int(s) for s, v in now.get("metering", []) if (int(s), int(v)) not in old_series]
    if new_series:
        rows = session.execute(select(col(MeteringSeriesRow.id), col(MeteringSeriesRow.message_pk),
                                      col(MeteringSeriesRow.period_start), col(MeteringSeriesRow.version))
                               .where(col(MeteringSeriesRow.id).in_(new_series))).all()
        found.append({"input": "metering", "series": [
            {"series_id": s, "message": f"in-{m}" if m else None, "period_start": _iso(p), "version": v}
            for s, m, p, v in rows], "message_ids": sorted({f"in-{m}" for _, m, _, _ in rows if m})})
    if now.get("price_import") != was.get("price_import") and now.get("price_import") is not None:
        found.append({"input": "spot prices", "message_ids": [f"price-{int(now['price_import'])}"]})
    if before is not None and after.catalogue_version_id != before.catalogue_version_id:
        found.append({"input": "catalogue", "message_ids": [f"catalogue-{after.catalogue_version_id}"]})
    if now.get("master_data") != was.get("master_data") and now.get("master_data") is not None:
        master = session.get(AccountingPointRow, int(now["master_data"]))
        found.append({"input": "master data", "message_ids": [f"in-{master.message_pk}"] if master else []})
    new_agreements = set(now.get("agreements", [])) - set(was.get("agreements", []))
    if new_agreements:
        pks = session.execute(select(col(SalesAgreementRow.message_pk)).where(
            col(SalesAgreementRow.id).in_(sorted(new_agreements)))).scalars().all()
        found.append({"input": "agreement", "message_ids": sorted({f"in-{p}" for p in pks})})
    return found


_CAUSE_TOPICS: Final = ("metering.received", "prices.imported", "masterdata.accounting_point",
                        "masterdata.agreement")


def cause_messages(session: Session, cause: str | None) -> list[str]:
    """The message log ids a rating's `cause` names: `<topic>:<outbox message id>` of the event that re-rated
    it, resolved through that event's payload (the E66 registry row, the price import, the E58 or F04/F06)."""
    if not cause:
        return []
    topic, _, outbox_id = cause.partition(":")
    if topic not in _CAUSE_TOPICS or not outbox_id:
        return []
    payload = session.execute(select(outbox_message.c.payload).where(
        outbox_message.c.message_id == outbox_id[:100])).scalar_one_or_none()
    if not isinstance(payload, dict):
        return []  # the event is gone (purged); `changed_inputs` still names what changed
    if topic == "metering.received":
        pk = payload.get("message_pk")
        return [f"in-{int(pk)}"] if pk else []
    if topic == "prices.imported":
        return [f"price-{int(payload['import_id'])}"] if payload.get("import_id") else []
    if topic == "masterdata.agreement":
        pk = payload.get("process_message_pk")
        return [f"in-{int(pk)}"] if pk else []
    rows = session.execute(select(col(AccountingPointRow.message_pk)).where(
        col(AccountingPointRow.gsrn) == payload.get("gsrn"))).scalars().all()
    valid_from = payload.get("valid_from")
    if valid_from:
        exact = session.execute(select(col(AccountingPointRow.message_pk), col(AccountingPointRow.valid_from)).where(
            col(AccountingPointRow.gsrn) == payload.get("gsrn"))).all()
        rows = [pk for pk, vf in exact if _iso(vf) == valid_from] or rows[-1:]
    return [f"in-{int(rows[-1])}"] if rows else []


def messages_of(items: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({m for item in items for m in item.get("message_ids", [])}, key=_message_order)
