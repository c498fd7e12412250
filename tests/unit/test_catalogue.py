"""The catalogue is dated data: loading, validation, and changes that need no code change."""

from __future__ import annotations

import copy
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from gateway.catalogue import CatalogueFormatError, load_catalogue, parse_catalogue
from gateway.rating.core import (
    AccountingPoint,
    Grid,
    MeteringSeries,
    ProductAssignment,
    VatKind,
    local_midnight_utc,
    rate_period,
)
from gateway.rating.core.catalogue import MissingDataPolicy, Segment

DEMO = Path(__file__).resolve().parents[2] / "catalogue" / "demo.toml"
D = Decimal


def demo_data() -> dict[str, Any]:
    return tomllib.loads(DEMO.read_text(encoding="utf-8"))


def test_the_demo_catalogue_has_every_kind_of_product() -> None:
    catalogue = load_catalogue(DEMO)
    kinds = {(p.segment, p.kind) for p in catalogue.products.values()}
    assert {(Segment.RETAIL, k) for k in ("fixed", "time_of_use", "seasonal", "spot", "hybrid")} <= kinds
    assert {(Segment.NETWORK, k) for k in ("general", "time_of_day", "seasonal", "power")} <= kinds
    assert {(Segment.DISTRICT_HEATING, k) for k in ("flat", "seasonal", "monthly")} <= kinds
    assert set(catalogue.power_rules) == {"helen", "le", "regulation_2029"}
    assert catalogue.missing_data_policy is MissingDataPolicy.HOLD


@pytest.mark.parametrize(
    "kind,day,rate",
    [
        (VatKind.ELECTRICITY_SALES, date(2022, 11, 30), "24"),
        (VatKind.ELECTRICITY_SALES, date(2022, 12, 1), "10"),
        (VatKind.ELECTRICITY_SALES, date(2023, 4, 30), "10"),
        (VatKind.ELECTRICITY_SALES, date(2023, 5, 1), "24"),
        (VatKind.ELECTRICITY_SALES, date(2024, 9, 1), "25.5"),
        (VatKind.NETWORK, date(2022, 12, 1), "24"),
        (VatKind.ELECTRICITY_TAX, date(2024, 8, 31), "24"),
        (VatKind.ELECTRICITY_TAX, date(2024, 9, 1), "25.5"),
        (VatKind.DISTRICT_HEATING, date(2025, 1, 1), "25.5"),
    ],
)
def test_vat_rates_follow_the_dated_table(kind: VatKind, day: date, rate: str) -> None:
    assert load_catalogue(DEMO).vat[kind].at(local_midnight_utc(day)) == D(rate)


def test_vat_changes_at_local_midnight_not_utc_midnight() -> None:
    table = load_catalogue(DEMO).vat[VatKind.NETWORK]
    change = local_midnight_utc(date(2024, 9, 1))
    assert change.isoformat() == "2024-08-31T21:00:00+00:00"
    assert table.at(change) == D("25.5")
    assert table.at(change.replace(hour=20, minute=59)) == D(24)


def test_electricity_tax_is_stored_in_euros_per_kwh() -> None:
    row = load_catalogue(DEMO).electricity_tax["1"].at(local_midnight_utc(date(2025, 1, 1)))
    assert row is not None and row.total == D("0.02253")


def test_a_new_security_of_supply_fee_is_a_data_change() -> None:
    data = demo_data()
    data["electricity_tax"].append(
        {
            "class": "1",
            "energy_tax_c_per_kwh": "2.24",
            "security_of_supply_c_per_kwh": "0.085",
            "valid_from": date(2026, 4, 1),
        }
    )
    catalogue = parse_catalogue(data)
    grid = Grid.for_local_dates(date(2026, 3, 15), date(2026, 4, 15), 60)
    point = AccountingPoint(
        "643007574000000017",
        tax_class="1",
        main_fuse="3x25A",
        network_products=(ProductAssignment("SV-YLEIS", date(2020, 1, 1)),),
    )
    lines = rate_period(
        point=point,
        agreement=None,
        catalogue=catalogue,
        period_start=date(2026, 3, 15),
        period_end=date(2026, 4, 15),
        metering=[MeteringSeries.from_micro(grid.start, 60, np.full(grid.n, 1_000_000))],
    )
    taxes = [(ln.unit_price, ln.quantity, ln.amount) for ln in lines if ln.component == "electricity_tax"]
    # 15.–31.3.: 17 days − 1 DST hour = 407 kWh × 0.02253; 1.–14.4.: 336 kWh × 0.02325
    assert taxes == [(D("0.02253"), D(407), D("9.17")), (D("0.02325"), D(336), D("7.81"))]


def test_the_same_catalogue_loads_from_yaml(tmp_path: Path) -> None:
    data = demo_data()
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(_stringify_dates(data), allow_unicode=True), encoding="utf-8")
    assert load_catalogue(path).products.keys() == load_catalogue(DEMO).products.keys()


def _stringify_dates(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stringify_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify_dates(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(demo_data())
    change(data)
    return data


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda d: d.update(format_version=2), "format_version"),
        (lambda d: d["products"][0]["prices"][0].update(basic_fee_eur_per_month=3.9), "as a string"),
        (lambda d: d["products"][0]["prices"][0].update(energy_c_per_kwh={"energy": "8.99999"}), "quantum"),
        (lambda d: d["products"][1]["prices"][0].update(energy_c_per_kwh={"day": "9.5"}), "needs"),
        (lambda d: d["products"][0].update(kind="time_of_day"), "not a retail kind"),
        (lambda d: d["products"][0].update(legal_entity="distribution"), "does not sell retail"),
        (lambda d: d["products"][3].pop("price_zone"), "price_zone"),
        (lambda d: d["products"].append(copy.deepcopy(d["products"][0])), "duplicate product code"),
        (lambda d: d["products"][8].update(power_rule="nobody"), "unknown power rule"),
        (lambda d: d["legal_entities"][0].update(business_id="1234567-2"), "business ID"),
        (lambda d: d["legal_entities"][0].update(iban="FI2112345600000786"), "IBAN"),
        (
            lambda d: d["vat"].append(
                {"kind": "network", "rate_percent": "20", "valid_from": "2024-01-01", "valid_to": "2024-10-01"}
            ),
            "overlapping",
        ),
        (lambda d: d["power_rules"][0].update(lookback="week"), "lookback"),
        (lambda d: d["rating"].update(missing_data_policy="guess"), "hold"),
    ],
)
def test_invalid_catalogues_are_rejected_with_the_place_of_the_error(change: Any, message: str) -> None:
    with pytest.raises(CatalogueFormatError, match=message):
        parse_catalogue(broken(change))


def test_valid_to_defaults_to_the_next_rows_valid_from() -> None:
    table = load_catalogue(DEMO).vat[VatKind.ELECTRICITY_SALES]
    assert [r.validity.valid_to for r in table.rows][:-1] == [r.validity.valid_from for r in table.rows][1:]
    assert table.rows[-1].validity.valid_to is None
