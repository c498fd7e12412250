"""Reading the dunning configuration (``catalogue/dunning.toml``; format in docs/receivables.md)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from gateway.payments.core.dated import DatedRow, DatedRows
from gateway.payments.core.dunning import CustomerType, DunningConfig, DunningPolicy, LegalLimits

DEFAULT_DUNNING_FILE = Path(__file__).resolve().parents[2] / "catalogue" / "dunning.toml"
FORMAT_VERSION = 1
T = TypeVar("T")


class DunningConfigError(ValueError):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")


def load_dunning_config(path: str | Path = DEFAULT_DUNNING_FILE) -> DunningConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise DunningConfigError(str(path), f"not valid TOML: {exc}") from None
    return parse_dunning_config(data, str(path))


def parse_dunning_config(data: Mapping[str, Any], source: str = "dunning configuration") -> DunningConfig:
    if data.get("format_version") != FORMAT_VERSION:
        raise DunningConfigError(source, f"format_version must be {FORMAT_VERSION}")
    unknown = set(data) - {"format_version", "law", "policy", "reference_rates", "interest"}
    if unknown:
        raise DunningConfigError(source, f"unknown section(s) {', '.join(sorted(unknown))}")
    law = DatedRows(_rows(data, "law", source, _law), "legal limits")
    policies = DatedRows(_rows(data, "policy", source, _policy), "dunning policy", key=lambda p: p.customer_type)
    rates = DatedRows(_rows(data, "reference_rates", source, lambda e, w: _decimal(e, "rate_percent", w)),
                      "reference rate")
    interest = data.get("interest", {})
    year_days = interest.get("year_days", 365)
    if year_days not in (360, 365):
        raise DunningConfigError(f"{source} [interest]", "year_days must be 365 or 360")
    config = DunningConfig(law=law, policies=policies, reference_rates=rates, interest_year_days=year_days)
    try:
        config.check()
    except (ValueError, LookupError) as exc:
        raise DunningConfigError(source, str(exc)) from None
    return config


def _rows(data: Mapping[str, Any], section: str, source: str,
          build: Callable[[Mapping[str, Any], str], T]) -> list[DatedRow[T]]:
    entries: Sequence[Mapping[str, Any]] = data.get(section, [])
    if not entries:
        raise DunningConfigError(source, f"[[{section}]] needs at least one row")
    rows = []
    for index, entry in enumerate(entries, 1):
        where = f"{source} [[{section}]] #{index}"
        valid_from = _date(entry, "valid_from", where)
        valid_to = _date(entry, "valid_to", where) if "valid_to" in entry else None
        if valid_to is not None and valid_to <= valid_from:
            raise DunningConfigError(where, "valid_to must be after valid_from")
        rows.append(DatedRow(valid_from, valid_to, build(entry, where)))
    return rows


def _law(entry: Mapping[str, Any], where: str) -> LegalLimits:
    return LegalLimits(
        consumer_max_reminder_fee=_decimal(entry, "consumer_max_reminder_fee", where),
        consumer_min_days_after_due=_int(entry, "consumer_min_days_after_due", where),
        consumer_min_days_between_reminders=_int(entry, "consumer_min_days_between_reminders", where),
        interest_margin_consumer=_decimal(entry, "interest_margin_consumer_pp", where),
        interest_margin_business=_decimal(entry, "interest_margin_business_pp", where),
        disconnection_min_days_notice_to_warning=_int(entry, "disconnection_min_days_notice_to_warning", where),
        disconnection_min_days_warning_to_disconnection=_int(
            entry, "disconnection_min_days_warning_to_disconnection", where),
        disconnection_combined_min_unpaid=_decimal(entry, "disconnection_combined_min_unpaid_eur", where),
        disconnection_combined_min_months_overdue=_int(entry, "disconnection_combined_min_months_overdue", where),
        disconnection_special_reason_months=_int(entry, "disconnection_special_reason_months", where),
    )


def _policy(entry: Mapping[str, Any], where: str) -> DunningPolicy:
    try:
        customer_type = CustomerType(str(entry.get("customer_type")))
    except ValueError:
        raise DunningConfigError(where, "customer_type must be 'consumer' or 'business'") from None
    return DunningPolicy(
        customer_type=customer_type,
        first_reminder_after_days=_int(entry, "first_reminder_after_days", where),
        reminder_interval_days=_int(entry, "reminder_interval_days", where),
        reminder_fee=_decimal(entry, "reminder_fee_eur", where),
        max_reminders=_int(entry, "max_reminders", where),
        collection_after_days=_int(entry, "collection_after_days", where),
        reminder_before_collection=bool(entry.get("reminder_before_collection", True)),
        disconnection_notice_after_days=_int(entry, "disconnection_notice_after_days", where, default=1),
    )


def _date(entry: Mapping[str, Any], key: str, where: str) -> date:
    value = entry.get(key)
    if isinstance(value, date):
        return value
    raise DunningConfigError(where, f"{key} must be a date (YYYY-MM-DD)")


def _int(entry: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
    value = entry.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DunningConfigError(where, f"{key} must be a whole number ≥ 0")
    return value


def _decimal(entry: Mapping[str, Any], key: str, where: str) -> Decimal:
    value = entry.get(key)
    if isinstance(value, float) or value is None or isinstance(value, bool):
        raise DunningConfigError(where, f"{key} must be written as a string or an integer (exact numbers)")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise DunningConfigError(where, f"{key} {value!r} is not a number") from None
    if result < 0:
        raise DunningConfigError(where, f"{key} must not be negative")
    return result
