"""Catalogue file → ``gateway.rating.core.catalogue.Catalogue``; the format is documented in catalogue/README.md.

Money and rates are written as strings (or integers) so that they stay exact; TOML/YAML floats are
rejected. Dates are local Helsinki days (validity starts at local midnight); ``valid_to`` is exclusive and
defaults to the ``valid_from`` of the next row of the same table.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import yaml
from stdnum import iban as iban_number
from stdnum.fi import ytunnus

from gateway.rating.core.calendar import local_midnight_utc
from gateway.rating.core.catalogue import (
    BasicFeeFormula,
    CalendarRules,
    Catalogue,
    FeeBracket,
    LegalEntity,
    MissingDataPolicy,
    PowerRule,
    PriceRow,
    Product,
    Segment,
    TaxRow,
    VatKind,
)
from gateway.rating.core.dated import Dated, DatedTable, Validity
from gateway.rating.core.money import to_quanta

SUPPORTED_FORMAT_VERSIONS = (1,)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_C_PER_KWH = Decimal("0.01")  # €/kWh per c/kWh
_EUR_PER_MWH = Decimal("0.001")  # €/kWh per €/MWh
T = TypeVar("T")


class CatalogueFormatError(ValueError):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


def load_catalogue(path: str | Path) -> Catalogue:
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        data: Any = tomllib.loads(text)
    elif path.suffix in (".yaml", ".yml"):
        data = yaml.safe_load(text)
    else:
        raise CatalogueFormatError(str(path), "the catalogue must be a .toml, .yaml or .yml file")
    return parse_catalogue(data, source=str(path))


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool | float):
        raise CatalogueFormatError(where, f"write {value!r} as a string to keep it exact")
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise CatalogueFormatError(where, f"{value!r} is not a decimal number") from None


def _instant(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise CatalogueFormatError(where, "a date-time needs an offset")
        return value.astimezone(UTC)
    if isinstance(value, date):
        return local_midnight_utc(value)
    if isinstance(value, str):
        try:
            return local_midnight_utc(date.fromisoformat(value))
        except ValueError:
            pass
    raise CatalogueFormatError(where, f"{value!r} is not a date")


def _required(entry: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in entry:
        raise CatalogueFormatError(where, f"missing {key!r}")
    return entry[key]


def _dated_table(
    rows: Sequence[Mapping[str, Any]], where: str, build: Callable[[Mapping[str, Any], str], T]
) -> DatedTable[T]:
    indexed = []
    for i, row in enumerate(rows):
        at = f"{where}[{i}]"
        indexed.append((_instant(_required(row, "valid_from", at), at), i, row))
    indexed.sort(key=lambda t: t[0])
    dated = []
    for position, (start, i, row) in enumerate(indexed):
        at = f"{where}[{i}]"
        if "valid_to" in row:
            end: datetime | None = _instant(row["valid_to"], at)
        else:
            end = indexed[position + 1][0] if position + 1 < len(indexed) else None
        try:
            dated.append(Dated(Validity(start, end), build(row, at)))
        except ValueError as error:
            raise CatalogueFormatError(at, str(error)) from None
    try:
        return DatedTable(dated)
    except ValueError as error:
        raise CatalogueFormatError(where, str(error)) from None


def _energy_prices(row: Mapping[str, Any], where: str) -> dict[str, Decimal]:
    prices: dict[str, Decimal] = {}
    for key, factor in (("energy_c_per_kwh", _C_PER_KWH), ("energy_eur_per_mwh", _EUR_PER_MWH)):
        for slot, value in dict(row.get(key, {})).items():
            at = f"{where}.{key}.{slot}"
            if slot in prices:
                raise CatalogueFormatError(at, "slot priced twice")
            price = _decimal(value, at) * factor
            try:
                to_quanta(price)
            except ValueError as error:
                raise CatalogueFormatError(at, str(error)) from None
            prices[str(slot)] = price
    return prices


def _formula(data: Mapping[str, Any], where: str) -> BasicFeeFormula:
    basis = _required(data, "basis", where)
    if basis not in ("flow_m3h", "power_kw"):
        raise CatalogueFormatError(where, f"basis must be flow_m3h or power_kw, got {basis!r}")
    brackets = []
    for i, b in enumerate(_required(data, "brackets", where)):
        at = f"{where}.brackets[{i}]"
        brackets.append(
            FeeBracket(
                up_to=_decimal(b["up_to"], at) if "up_to" in b else None,
                constant=_decimal(b.get("constant", 0), at),
                per_unit=_decimal(b.get("per_unit", 0), at),
            )
        )
    return BasicFeeFormula(basis, _decimal(data.get("multiplier", 1), where), tuple(brackets))


def _price_row(row: Mapping[str, Any], where: str) -> PriceRow:
    return PriceRow(
        energy=_energy_prices(row, where),
        basic_fee_month=(_decimal(row["basic_fee_eur_per_month"], where) if "basic_fee_eur_per_month" in row else None),
        fuse_fees={
            str(fuse): _decimal(v, f"{where}.basic_fee_by_fuse_eur_per_month.{fuse}")
            for fuse, v in dict(row.get("basic_fee_by_fuse_eur_per_month", {})).items()
        },
        power_fee_kw_month=(
            _decimal(row["power_fee_eur_per_kw_month"], where) if "power_fee_eur_per_kw_month" in row else None
        ),
        basic_fee_formula=_formula(row["basic_fee_formula"], f"{where}.basic_fee_formula")
        if "basic_fee_formula" in row
        else None,
    )


def _product(entry: Mapping[str, Any], where: str, entities: Mapping[str, LegalEntity]) -> Product:
    code = str(_required(entry, "code", where))
    entity = str(_required(entry, "legal_entity", where))
    if entity not in entities:
        raise CatalogueFormatError(where, f"unknown legal entity {entity!r}")
    try:
        segment = Segment(_required(entry, "segment", where))
    except ValueError:
        raise CatalogueFormatError(where, f"segment must be one of {[s.value for s in Segment]}") from None
    if entities[entity].segment is not segment:
        raise CatalogueFormatError(where, f"legal entity {entity} does not sell {segment} products")
    try:
        return Product(
            code=code,
            name=str(entry.get("name", code)),
            segment=segment,
            kind=str(_required(entry, "kind", where)),
            legal_entity=entity,
            prices=_dated_table(_required(entry, "prices", where), f"{where}.prices", _price_row),
            power_rule=entry.get("power_rule"),
            seasons={str(k): tuple(int(m) for m in v) for k, v in dict(entry.get("seasons", {})).items()},
            fixed_share=_decimal(entry["fixed_share"], where) if "fixed_share" in entry else None,
            price_zone=entry.get("price_zone"),
            line_unit=str(entry.get("line_unit", "MWh" if segment is Segment.DISTRICT_HEATING else "kWh")),
        )
    except ValueError as error:
        if isinstance(error, CatalogueFormatError):
            raise
        raise CatalogueFormatError(where, str(error)) from None


def _entity(entry: Mapping[str, Any], where: str) -> LegalEntity:
    business_id = str(_required(entry, "business_id", where))
    if not ytunnus.is_valid(business_id):
        raise CatalogueFormatError(where, f"{business_id!r} is not a valid Finnish business ID")
    account = entry.get("iban")
    if account is not None and not iban_number.is_valid(account):
        raise CatalogueFormatError(where, f"{account!r} is not a valid IBAN")
    return LegalEntity(
        id=str(_required(entry, "id", where)),
        name=str(_required(entry, "name", where)),
        business_id=ytunnus.compact(business_id),
        segment=Segment(_required(entry, "segment", where)),
        iban=iban_number.compact(account) if account else None,
    )


def _power_rule(entry: Mapping[str, Any], where: str) -> PowerRule:
    lookback = entry.get("lookback", "month")
    months = {"month": 1, "12_months": 12}.get(str(lookback))
    if months is None:
        raise CatalogueFormatError(where, "lookback must be 'month' or '12_months'")
    try:
        return PowerRule(
            id=str(_required(entry, "id", where)),
            window_minutes=int(entry.get("window_minutes", 60)),
            nth_highest=int(entry.get("nth_highest", 1)),
            night_weight=_decimal(entry.get("night_weight", 1), where),
            night_start_hour=int(entry.get("night_start_hour", 22)),
            night_end_hour=int(entry.get("night_end_hour", 7)),
            threshold_kw=_decimal(entry.get("threshold_kw", 0), where),
            lookback_months=months,
        )
    except ValueError as error:
        raise CatalogueFormatError(where, str(error)) from None


def _calendar(entry: Mapping[str, Any]) -> CalendarRules:
    defaults = CalendarRules()
    weekdays = entry.get("winter_weekdays")
    try:
        weekday_numbers = defaults.winter_weekdays if weekdays is None else tuple(WEEKDAYS.index(d) for d in weekdays)
    except ValueError:
        raise CatalogueFormatError("calendar.winter_weekdays", f"use {WEEKDAYS}") from None
    return CalendarRules(
        day_start_hour=int(entry.get("day_start_hour", defaults.day_start_hour)),
        day_end_hour=int(entry.get("day_end_hour", defaults.day_end_hour)),
        winter_months=tuple(int(m) for m in entry.get("winter_months", defaults.winter_months)),
        winter_weekdays=weekday_numbers,
    )


def _group(rows: Sequence[Mapping[str, Any]], key: str, where: str) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(str(_required(row, key, f"{where}[{i}]")), []).append(row)
    return groups


def parse_catalogue(data: Mapping[str, Any], source: str = "catalogue") -> Catalogue:
    version = data.get("format_version")
    if version not in SUPPORTED_FORMAT_VERSIONS:
        raise CatalogueFormatError(source, f"format_version must be one of {SUPPORTED_FORMAT_VERSIONS}")
    entities: dict[str, LegalEntity] = {}
    for i, entry in enumerate(data.get("legal_entities", [])):
        entity = _entity(entry, f"legal_entities[{i}]")
        entities[entity.id] = entity

    vat: dict[VatKind, DatedTable[Decimal]] = {}
    for kind, rows in _group(data.get("vat", []), "kind", "vat").items():
        try:
            vat_kind = VatKind(kind)
        except ValueError:
            raise CatalogueFormatError("vat", f"unknown VAT kind {kind!r}") from None
        vat[vat_kind] = _dated_table(rows, f"vat[{kind}]", lambda r, w: _decimal(_required(r, "rate_percent", w), w))

    taxes: dict[str, DatedTable[TaxRow]] = {}
    for tax_class, rows in _group(data.get("electricity_tax", []), "class", "electricity_tax").items():
        taxes[tax_class] = _dated_table(
            rows,
            f"electricity_tax[{tax_class}]",
            lambda r, w: TaxRow(
                energy_tax=_decimal(_required(r, "energy_tax_c_per_kwh", w), w) * _C_PER_KWH,
                security_of_supply_fee=_decimal(_required(r, "security_of_supply_c_per_kwh", w), w) * _C_PER_KWH,
            ),
        )

    rules = {}
    for i, entry in enumerate(data.get("power_rules", [])):
        rule = _power_rule(entry, f"power_rules[{i}]")
        rules[rule.id] = rule

    products: dict[str, Product] = {}
    for i, entry in enumerate(data.get("products", [])):
        product = _product(entry, f"products[{i}]", entities)
        if product.code in products:
            raise CatalogueFormatError(f"products[{i}]", f"duplicate product code {product.code!r}")
        if product.power_rule is not None and product.power_rule not in rules:
            raise CatalogueFormatError(f"products[{i}]", f"unknown power rule {product.power_rule!r}")
        products[product.code] = product

    rating = dict(data.get("rating", {}))
    try:
        policy = MissingDataPolicy(rating.get("missing_data_policy", MissingDataPolicy.HOLD.value))
    except ValueError:
        raise CatalogueFormatError("rating.missing_data_policy", "use 'hold' or 'bill_marked'") from None
    return Catalogue(
        entities=entities,
        products=products,
        vat=vat,
        electricity_tax=taxes,
        power_rules=rules,
        calendar=_calendar(dict(data.get("calendar", {}))),
        missing_data_policy=policy,
        vat_on_net_credit=bool(rating.get("vat_on_net_credit", False)),
    )
