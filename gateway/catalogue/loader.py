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
from stdnum import bic
from stdnum import iban as iban_number
from stdnum.fi import alv, ytunnus

from gateway.rating.core.calendar import local_midnight_utc
from gateway.rating.core.catalogue import (
    BasicFeeFormula,
    CalendarRules,
    Catalogue,
    FeeBracket,
    InvoicingRules,
    InvoicingTerms,
    LegalEntity,
    MissingDataPolicy,
    PaymentProviderAccount,
    PostalAddress,
    PowerRule,
    PriceRow,
    Product,
    ProviderMode,
    ReferenceScheme,
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


OVT_PREFIX = "0037"  # ISO 6523 ICD of Finnish business IDs: OVT = 0037 + Y-tunnus digits + optional suffix


def is_valid_ovt(code: str) -> bool:
    """A Finnish OVT/EDI address: 0037, the 8 digits of a valid business ID, then up to 5 letters or digits."""
    compact = code.replace(" ", "").upper()
    if not compact.startswith(OVT_PREFIX) or not 12 <= len(compact) <= 17 or not compact.isalnum():
        return False
    digits = compact[4:12]
    return digits.isdigit() and ytunnus.is_valid(f"{digits[:7]}-{digits[7]}")


def _text(entry: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise CatalogueFormatError(where, f"missing {key!r}")
        return None
    if not isinstance(value, str) or not value.strip():
        raise CatalogueFormatError(where, f"{key} must be a non-empty string")
    return value.strip()


def _address(entry: Mapping[str, Any], where: str) -> PostalAddress:
    if not isinstance(entry, Mapping):
        raise CatalogueFormatError(where, "address must be a table { street, postcode, city, country }")
    country = _text(entry, "country", where) or "FI"
    postcode = str(_text(entry, "postcode", where, required=True))
    if country == "FI" and not (postcode.isdigit() and len(postcode) == 5):
        raise CatalogueFormatError(where, f"{postcode!r} is not a Finnish postcode (5 digits)")
    return PostalAddress(street=str(_text(entry, "street", where, required=True)), postcode=postcode,
                         city=str(_text(entry, "city", where, required=True)), country=country)


def _invoicing_terms(entry: Mapping[str, Any], where: str) -> InvoicingTerms:
    prefix = str(_required(entry, "number_prefix", where))
    try:
        scheme = ReferenceScheme(entry.get("reference_scheme", ReferenceScheme.NATIONAL.value))
    except ValueError:
        raise CatalogueFormatError(where, "reference_scheme must be 'national' or 'rf'") from None
    width = entry.get("number_width", 7)
    term = entry.get("payment_term_days", 14)
    if not isinstance(width, int) or not isinstance(term, int) or isinstance(width, bool) or term < 0:
        raise CatalogueFormatError(where, "number_width and payment_term_days must be whole numbers ≥ 0")
    if not prefix.isdigit() or prefix.startswith("0") or width < 1 or len(prefix) + width > 19:
        raise CatalogueFormatError(
            where, f"number_prefix {prefix!r} must be digits not starting with 0, and prefix + number_width "
                   "at most 19 digits (the longest reference base)")
    threshold = _decimal(entry.get("correction_threshold_eur", "0"), f"{where}.correction_threshold_eur")
    if threshold < 0:
        raise CatalogueFormatError(where, "correction_threshold_eur must not be negative")
    return InvoicingTerms(
        number_prefix=prefix, number_width=width, reference_scheme=scheme, payment_term_days=term,
        correction_threshold=threshold, complaint_text=str(entry.get("complaint_text", "")),
        dispute_text=str(entry.get("dispute_text", "")),
    )


def _provider(entry: Mapping[str, Any], where: str) -> PaymentProviderAccount:
    try:
        mode = ProviderMode(entry.get("mode", ProviderMode.PRINT_ONLY.value))
    except ValueError:
        raise CatalogueFormatError(where, f"mode must be one of {[m.value for m in ProviderMode]}") from None
    return PaymentProviderAccount(account=str(_text(entry, "account", where, required=True)), mode=mode)


def _entity(entry: Mapping[str, Any], where: str) -> LegalEntity:
    business_id = str(_required(entry, "business_id", where))
    if not ytunnus.is_valid(business_id):
        raise CatalogueFormatError(where, f"{business_id!r} is not a valid Finnish business ID")
    account = entry.get("iban")
    if account is not None and not iban_number.is_valid(account):
        raise CatalogueFormatError(where, f"{account!r} is not a valid IBAN")
    bic_code = _text(entry, "bic", where)
    if bic_code is not None and not bic.is_valid(bic_code):
        raise CatalogueFormatError(where, f"{bic_code!r} is not a valid BIC")
    vat = _text(entry, "vat_number", where)
    if vat is not None:
        if not alv.is_valid(vat):
            raise CatalogueFormatError(where, f"{vat!r} is not a valid Finnish VAT number")
        if alv.compact(vat) != ytunnus.compact(business_id).replace("-", ""):
            raise CatalogueFormatError(where, f"VAT number {vat} does not belong to business ID {business_id}")
    finvoice = dict(entry.get("finvoice", {}))
    ovt = _text(finvoice, "address", f"{where}.finvoice")
    if ovt is not None and not is_valid_ovt(ovt):
        raise CatalogueFormatError(f"{where}.finvoice", f"{ovt!r} is not an OVT/EDI address (0037 + business ID)")
    operator = _text(finvoice, "operator", f"{where}.finvoice")
    if operator is not None and not (bic.is_valid(operator) or is_valid_ovt(operator)):
        raise CatalogueFormatError(f"{where}.finvoice", f"operator {operator!r} is neither a BIC nor an OVT code")
    contact = dict(entry.get("contact", {}))
    try:
        segment = Segment(_required(entry, "segment", where))
    except ValueError:
        raise CatalogueFormatError(where, f"segment must be one of {[s.value for s in Segment]}") from None
    terms = _invoicing_terms(entry["invoicing"], f"{where}.invoicing") if "invoicing" in entry else None
    entity = LegalEntity(
        id=str(_required(entry, "id", where)),
        name=str(_required(entry, "name", where)),
        business_id=ytunnus.format(business_id),
        segment=segment,
        iban=iban_number.compact(account) if account else None,
        bic=bic.compact(bic_code) if bic_code else None,
        vat_number="FI" + alv.compact(vat) if vat else None,
        address=_address(entry["address"], f"{where}.address") if "address" in entry else None,
        phone=_text(contact, "phone", f"{where}.contact"),
        email=_text(contact, "email", f"{where}.contact"),
        web=_text(contact, "web", f"{where}.contact"),
        finvoice_address=ovt.replace(" ", "").upper() if ovt else None,
        finvoice_operator=operator.replace(" ", "").upper() if operator else None,
        invoicing=terms,
        payment_provider=_provider(entry["payment_provider"], f"{where}.payment_provider")
        if "payment_provider" in entry else None,
    )
    if terms is not None and entity.missing_for_invoicing():
        raise CatalogueFormatError(where, f"an entity that invoices needs {', '.join(entity.missing_for_invoicing())}")
    return entity


def _invoicing_rules(entry: Mapping[str, Any]) -> InvoicingRules:
    defaults = InvoicingRules()
    channels = {str(k): str(v) for k, v in dict(entry.get("channels", defaults.channels)).items()}
    delay = entry.get("final_invoice_delay_days", defaults.final_invoice_delay_days)
    if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= 42:
        raise CatalogueFormatError("invoicing.final_invoice_delay_days",
                                   "must be 0-42 days: a final invoice is due within six weeks of the end")
    return InvoicingRules(channels=channels, default_channel=str(entry.get("default_channel", "paper")),
                          final_invoice_delay_days=delay)


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
    prefixes: dict[str, str] = {}
    for i, entry in enumerate(data.get("legal_entities", [])):
        entity = _entity(entry, f"legal_entities[{i}]")
        if entity.id in entities:
            raise CatalogueFormatError(f"legal_entities[{i}]", f"duplicate legal entity id {entity.id!r}")
        if entity.invoicing is not None:
            prefix = entity.invoicing.number_prefix
            clash = next((other for p, other in prefixes.items() if p.startswith(prefix) or prefix.startswith(p)),
                         None)
            if clash is not None:
                raise CatalogueFormatError(f"legal_entities[{i}]",
                                           f"number_prefix {prefix} overlaps {clash}'s: references must not collide")
            prefixes[prefix] = entity.id
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
        invoicing=_invoicing_rules(dict(data.get("invoicing", {}))),
    )
