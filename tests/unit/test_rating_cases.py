"""Hand-checked rating cases (issue #4). Every expected number is worked out in the comment above it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from gateway.catalogue import load_catalogue
from gateway.rating.core import (
    AccountingPoint,
    Agreement,
    Grid,
    MeteringSeries,
    MissingDataPolicy,
    PeriodHeldError,
    PricedLine,
    PriceSeries,
    ProductAssignment,
    Quality,
    local_midnight_utc,
    rate_period,
)
from mappings.entsoe_prices import parse_day_ahead_prices

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = load_catalogue(ROOT / "catalogue" / "demo.toml")
FI = "10YFI-1--------U"
GSRN = "643007574000000017"
D = Decimal


def flat_series(first: date, end: date, resolution: int, per_interval: str, unit: str = "kWh") -> MeteringSeries:
    grid = Grid.for_local_dates(first, end, resolution)
    return MeteringSeries.from_micro(grid.start, resolution, np.full(grid.n, int(D(per_interval) * 10**6)), unit=unit)


def electricity_point(network: str = "SV-YLEIS", tax_class: str = "1", fuse: str = "3x25A") -> AccountingPoint:
    return AccountingPoint(
        GSRN, tax_class=tax_class, main_fuse=fuse, network_products=(ProductAssignment(network, date(2020, 1, 1)),)
    )


def pick(lines: list[PricedLine], component: str, product: str | None = None) -> list[PricedLine]:
    return [ln for ln in lines if ln.component == component and (product is None or ln.product_code == product)]


def one(lines: list[PricedLine], component: str, product: str | None = None) -> PricedLine:
    found = pick(lines, component, product)
    assert len(found) == 1, found
    return found[0]


# --- spot month with negative prices -------------------------------------------------------------


def november_2023_prices() -> PriceSeries:
    # local days 1–10 at −10.00 €/MWh, days 11–30 at 25.00 €/MWh (no DST in November: 24 h a day)
    hours = 30 * 24
    prices = tuple(D("-10.00") if h < 240 else D("25.00") for h in range(hours))
    return PriceSeries(FI, local_midnight_utc(date(2023, 11, 1)), 60, prices)


def test_spot_month_with_negative_prices_is_billed_unclamped() -> None:
    lines = rate_period(
        point=electricity_point(),
        agreement=Agreement("EM-SPOT", date(2023, 1, 1)),
        catalogue=CATALOGUE,
        period_start=date(2023, 11, 1),
        period_end=date(2023, 12, 1),
        metering=[flat_series(date(2023, 11, 1), date(2023, 12, 1), 15, "0.5")],
        prices=[november_2023_prices()],
    )
    spot = one(lines, "spot_energy")
    # 2 kWh/h: 480 kWh × −0.010 €/kWh = −4.80; 960 kWh × 0.025 €/kWh = 24.00 → 19.20 €
    assert (spot.quantity, spot.amount) == (D(1440), D("19.20"))
    assert spot.unit_price == D("0.013333")  # volume-weighted: 19.20 / 1440
    assert spot.vat_rate == D(24)
    # margin 1440 kWh × 0.0049 €/kWh = 7.056 → 7.06; basic fee a whole month
    assert one(lines, "spot_margin").amount == D("7.06")
    assert one(lines, "basic_fee", "EM-SPOT").amount == D("3.90")


def test_days_with_only_negative_prices_give_a_credit_line() -> None:
    lines = rate_period(
        point=electricity_point(),
        agreement=Agreement("EM-SPOT", date(2023, 1, 1)),
        catalogue=CATALOGUE,
        period_start=date(2023, 11, 1),
        period_end=date(2023, 11, 11),
        metering=[flat_series(date(2023, 11, 1), date(2023, 11, 11), 60, "2")],
        prices=[november_2023_prices()],
    )
    assert one(lines, "spot_energy").amount == D("-4.80")


# --- DST months at both resolutions ----------------------------------------------------------------


@pytest.mark.parametrize("resolution,per_interval", [(15, "0.25"), (60, "1")])
def test_dst_spring_month_has_one_night_hour_less(resolution: int, per_interval: str) -> None:
    assert Grid.for_local_dates(date(2025, 3, 30), date(2025, 3, 31), 15).n == 92
    lines = rate_period(
        point=electricity_point("SV-AIKA"),
        agreement=Agreement("EM-AIKA", date(2024, 1, 1)),
        catalogue=CATALOGUE,
        period_start=date(2025, 3, 1),
        period_end=date(2025, 4, 1),
        metering=[flat_series(date(2025, 3, 1), date(2025, 4, 1), resolution, per_interval)],
    )
    # 743 hours: day 07–22 = 15 h × 31 = 465 kWh; night 9 h × 31 − 1 (03:00 skipped on 30.3.) = 278 kWh
    assert one(lines, "energy_day", "EM-AIKA").quantity == D(465)
    assert one(lines, "energy_night", "EM-AIKA").quantity == D(278)
    assert one(lines, "energy_day", "EM-AIKA").amount == D("44.18")  # 465 × 0.095 = 44.175
    assert one(lines, "energy_night", "EM-AIKA").amount == D("20.02")  # 278 × 0.072 = 20.016
    assert one(lines, "energy_day", "SV-AIKA").amount == D("16.14")  # 465 × 0.0347 = 16.1355
    assert one(lines, "energy_night", "SV-AIKA").amount == D("3.22")  # 278 × 0.0116 = 3.2248
    tax = one(lines, "electricity_tax")
    assert (tax.quantity, tax.amount, tax.tax_class) == (D(743), D("16.74"), "1")  # 743 × 0.02253 = 16.73979


@pytest.mark.parametrize("resolution,per_interval", [(15, "0.25"), (60, "1")])
def test_dst_autumn_month_has_one_night_hour_more(resolution: int, per_interval: str) -> None:
    assert Grid.for_local_dates(date(2025, 10, 26), date(2025, 10, 27), 15).n == 100
    lines = rate_period(
        point=electricity_point("SV-AIKA"),
        agreement=Agreement("EM-AIKA", date(2024, 1, 1)),
        catalogue=CATALOGUE,
        period_start=date(2025, 10, 1),
        period_end=date(2025, 11, 1),
        metering=[flat_series(date(2025, 10, 1), date(2025, 11, 1), resolution, per_interval)],
    )
    # 745 hours: day 465 kWh; night 9 × 31 + 1 (03:00 repeated on 26.10.) = 280 kWh
    assert one(lines, "energy_night", "EM-AIKA").quantity == D(280)
    assert one(lines, "energy_night", "EM-AIKA").amount == D("20.16")  # 280 × 0.072
    assert one(lines, "energy_night", "SV-AIKA").amount == D("3.25")  # 280 × 0.0116 = 3.248
    assert one(lines, "electricity_tax").amount == D("16.78")  # 745 × 0.02253 = 16.78485


def test_hourly_energy_against_quarter_prices_uses_the_mean_of_the_four_quarters() -> None:
    prices = parse_day_ahead_prices((ROOT / "tests/fixtures/prices/day_ahead_prices_fi.xml").read_bytes())
    day = date(2025, 10, 13)  # local day 12.10. 21:00Z – 13.10. 21:00Z lies inside the fixture
    start = local_midnight_utc(day)
    quarters = [p for s in prices for p in _quarters(s) if start <= p[0] < local_midnight_utc(date(2025, 10, 14))]
    assert len(quarters) == 96
    expected = sum((price for _, price in quarters), D(0)) * D("0.25") / 1000  # 0.25 kWh per quarter

    def spot(resolution: int, per_interval: str) -> PricedLine:
        lines = rate_period(
            point=electricity_point(),
            agreement=Agreement("EM-SPOT", date(2024, 1, 1)),
            catalogue=CATALOGUE,
            period_start=day,
            period_end=date(2025, 10, 14),
            metering=[flat_series(day, date(2025, 10, 14), resolution, per_interval)],
            prices=prices,
        )
        return one(lines, "spot_energy")

    hourly, quarterly = spot(60, "1"), spot(15, "0.25")
    assert hourly.amount == quarterly.amount == expected.quantize(D("0.01"))
    assert hourly.quantity == quarterly.quantity == D(24)


def _quarters(series: PriceSeries) -> list[tuple[datetime, Decimal]]:
    return [(i, p) for i, p in zip(series.instants(), series.prices_eur_per_mwh, strict=True)]


# --- VAT changes -------------------------------------------------------------------------------------


def test_a_month_straddling_the_vat_change_of_1_9_2024_is_split_by_delivery_time() -> None:
    lines = rate_period(
        point=electricity_point("SV-YLEIS"),
        agreement=Agreement("EM-KIINTEA", date(2024, 1, 1)),
        catalogue=CATALOGUE,
        period_start=date(2024, 8, 15),
        period_end=date(2024, 9, 15),
        metering=[flat_series(date(2024, 8, 15), date(2024, 9, 15), 60, "1")],
    )

    def amounts(component: str, product: str) -> list[tuple[Decimal, Decimal]]:
        return [(ln.vat_rate, ln.amount) for ln in pick(lines, component, product)]

    # 15.–31.8.: 17 days = 408 kWh at 24 %; 1.–14.9.: 14 days = 336 kWh at 25.5 %
    assert amounts("energy", "EM-KIINTEA") == [(D(24), D("36.68")), (D("25.5"), D("30.21"))]  # × 0.0899
    assert amounts("energy", "SV-YLEIS") == [(D(24), D("12.97")), (D("25.5"), D("10.68"))]  # × 0.0318
    assert amounts("electricity_tax", "SV-YLEIS") == [(D(24), D("9.19")), (D("25.5"), D("7.57"))]
    # basic fees by days: 3.90 × 17/31 = 2.1387, 3.90 × 14/30 = 1.82; 14.20 × 17/31 = 7.787, × 14/30 = 6.627
    assert amounts("basic_fee", "EM-KIINTEA") == [(D(24), D("2.14")), (D("25.5"), D("1.82"))]
    assert amounts("basic_fee", "SV-YLEIS") == [(D(24), D("7.79")), (D("25.5"), D("6.63"))]


@pytest.mark.parametrize(
    "first,end,retail_rates",
    [(date(2022, 11, 15), date(2022, 12, 15), [D(24), D(10)]), (date(2023, 4, 15), date(2023, 5, 15), [D(10), D(24)])],
)
def test_the_10_percent_period_applies_to_retail_only(first: date, end: date, retail_rates: list[Decimal]) -> None:
    lines = rate_period(
        point=electricity_point("SV-YLEIS"),
        agreement=Agreement("EM-KIINTEA", date(2022, 1, 1)),
        catalogue=CATALOGUE,
        period_start=first,
        period_end=end,
        metering=[flat_series(first, end, 60, "1")],
    )
    assert [ln.vat_rate for ln in pick(lines, "energy", "EM-KIINTEA")] == retail_rates
    assert [ln.vat_rate for ln in pick(lines, "basic_fee", "EM-KIINTEA")] == retail_rates
    assert [ln.vat_rate for ln in pick(lines, "energy", "SV-YLEIS")] == [D(24)]
    assert [ln.vat_rate for ln in pick(lines, "electricity_tax")] == [D(24)]


# --- seasonal product ----------------------------------------------------------------------------------


def rate_one_day(day: date, retail: str, network: str) -> list[PricedLine]:
    end = date.fromordinal(day.toordinal() + 1)
    return rate_period(
        point=electricity_point(network),
        agreement=Agreement(retail, date(2024, 1, 1)),
        catalogue=CATALOGUE,
        period_start=day,
        period_end=end,
        metering=[flat_series(day, end, 60, "1")],
    )


def test_seasonal_product_on_a_saturday_in_january_is_winter_weekday_by_day() -> None:
    lines = rate_one_day(date(2025, 1, 4), "EM-KAUSI", "SV-KAUSI")  # a Saturday
    # 07–22 = 15 kWh × 0.112 = 1.68; the 9 night hours are "other": 9 × 0.081 = 0.729
    assert one(lines, "energy_winter_weekday", "EM-KAUSI").amount == D("1.68")
    assert one(lines, "energy_other", "EM-KAUSI").amount == D("0.73")
    assert one(lines, "energy_winter_weekday", "SV-KAUSI").amount == D("0.65")  # 15 × 0.0435 = 0.6525


def test_seasonal_product_on_a_sunday_in_january_is_other_time_all_day() -> None:
    lines = rate_one_day(date(2025, 1, 5), "EM-KAUSI", "SV-KAUSI")  # a Sunday
    assert pick(lines, "energy_winter_weekday") == []
    assert one(lines, "energy_other", "EM-KAUSI").amount == D("1.94")  # 24 × 0.081 = 1.944


# --- move-in -----------------------------------------------------------------------------------------


def test_move_in_on_the_17th_bills_energy_and_basic_fee_from_that_day() -> None:
    lines = rate_period(
        point=electricity_point(),
        agreement=Agreement("EM-KIINTEA", date(2025, 3, 17)),
        catalogue=CATALOGUE,
        period_start=date(2025, 3, 1),
        period_end=date(2025, 4, 1),
        metering=[flat_series(date(2025, 3, 1), date(2025, 4, 1), 60, "1")],
    )
    energy = one(lines, "energy", "EM-KIINTEA")
    # 17.–31.3. = 15 days, 359 hours (30.3. has 23): 359 × 0.0899 = 32.2741
    assert (energy.quantity, energy.amount) == (D(359), D("32.27"))
    assert energy.period_start == local_midnight_utc(date(2025, 3, 17))
    basic = one(lines, "basic_fee", "EM-KIINTEA")
    assert (basic.days, basic.days_in_month, basic.amount) == (15, 31, D("1.89"))  # 3.90 × 15/31 = 1.887


# --- power fees ----------------------------------------------------------------------------------------


def january_2025_with_peaks() -> MeteringSeries:
    grid = Grid.for_local_dates(date(2025, 1, 1), date(2025, 2, 1), 60)
    values = np.full(grid.n, 1_000_000, dtype=np.int64)  # 1 kWh every hour
    # local (EET = UTC+2) peaks: 8.1. 18:00 12 kWh, 9.1. 18:00 11 kWh, 10.1. 18:00 10 kWh, 11.1. 23:00 13 kWh
    for day, hour, kwh in [(8, 18, 12), (9, 18, 11), (10, 18, 10), (11, 23, 13)]:
        values[(day - 1) * 24 + hour] = kwh * 1_000_000
    return MeteringSeries.from_micro(grid.start, 60, values)


def power_line(network: str, metering: list[MeteringSeries]) -> PricedLine:
    lines = rate_period(
        point=electricity_point(network),
        agreement=None,
        catalogue=CATALOGUE,
        period_start=date(2025, 1, 1),
        period_end=date(2025, 2, 1),
        metering=metering,
        policy=MissingDataPolicy.BILL_MARKED,
    )
    return one(lines, "power_fee")


def test_helen_style_power_fee_takes_the_third_highest_hour_with_night_at_80_percent() -> None:
    line = power_line("SV-TEHO-HELEN", [january_2025_with_peaks()])
    # hours 12, 11, 13 × 0.8 = 10.4, 10 → third highest 10.4 kW × 3.85 €/kW = 40.04
    assert (line.quantity, line.unit, line.amount, line.vat_rate) == (D("10.4"), "kW", D("40.04"), D("25.5"))


def test_regulation_2029_power_fee_bills_the_highest_hour_above_8_kw() -> None:
    line = power_line("SV-TEHO-2029", [january_2025_with_peaks()])
    # highest hour 13 kWh (no night weighting) − 8 kW = 5 kW × 3.85 = 19.25
    assert (line.quantity, line.amount) == (D(5), D("19.25"))


def test_le_style_power_fee_ratchets_on_the_highest_hour_of_the_last_12_months() -> None:
    history_grid = Grid.for_local_dates(date(2024, 2, 1), date(2025, 1, 1), 60)
    history = np.full(history_grid.n, 1_000_000, dtype=np.int64)
    history[history_grid.index_of(local_midnight_utc(date(2024, 8, 14))) + 12] = 15_000_000
    metering = [MeteringSeries.from_micro(history_grid.start, 60, history), january_2025_with_peaks()]
    line = power_line("SV-TEHO-LE", metering)
    assert (line.quantity, line.amount, line.missing_intervals) == (D(15), D("57.75"), 0)  # 15 kW × 3.85


def test_le_style_power_fee_without_history_is_marked_missing() -> None:
    line = power_line("SV-TEHO-LE", [january_2025_with_peaks()])
    assert line.quantity == D(13)
    assert line.missing_intervals == history_hours() and "missing" in line.flags


def history_hours() -> int:
    return Grid.for_local_dates(date(2024, 2, 1), date(2025, 1, 1), 60).n


# --- district heating ------------------------------------------------------------------------------


def test_district_heating_month_with_a_monthly_price_and_a_flow_based_basic_fee() -> None:
    point = AccountingPoint(
        "643007574000000024",
        heating_products=(ProductAssignment("KL-KUUKAUSI", date(2025, 1, 1)),),
        contracted_flow_m3h=D("1.0"),
    )
    lines = rate_period(
        point=point,
        agreement=None,
        catalogue=CATALOGUE,
        period_start=date(2025, 1, 1),
        period_end=date(2025, 2, 1),
        metering=[flat_series(date(2025, 1, 1), date(2025, 2, 1), 60, "0.002", unit="MWh")],
    )
    energy = one(lines, "energy_m01")
    # 744 h × 0.002 MWh = 1.488 MWh × 97.01 €/MWh = 144.35088
    assert (energy.quantity, energy.unit, energy.unit_price, energy.amount) == (
        D("1.488"),
        "MWh",
        D("97.01"),
        D("144.35"),
    )
    assert energy.vat_rate == D("25.5") and energy.legal_entity == "heating"
    # Oulun Energia: 0.21 ≤ V ≤ 5: 2.71 × (34 + 520 × 1.0) = 1501.34 €/a → / 12 = 125.1117 per month
    assert one(lines, "basic_fee").amount == D("125.11")
    assert pick(lines, "electricity_tax") == []


# --- estimated and missing data ----------------------------------------------------------------------


def january_with_quality(index: int, code: Quality) -> MeteringSeries:
    series = flat_series(date(2025, 1, 1), date(2025, 2, 1), 60, "1")
    quality = series.quality.copy()
    quality[index] = code
    return MeteringSeries(series.start, 60, series.values, quality)


def rate_january(metering: MeteringSeries, policy: MissingDataPolicy | None = None) -> list[PricedLine]:
    return rate_period(
        point=electricity_point(),
        agreement=Agreement("EM-KIINTEA", date(2024, 1, 1)),
        catalogue=CATALOGUE,
        period_start=date(2025, 1, 1),
        period_end=date(2025, 2, 1),
        metering=[metering],
        policy=policy,
    )


def test_an_estimated_interval_is_billed_as_delivered_and_marked() -> None:
    lines = rate_january(january_with_quality(100, Quality.ESTIMATED))
    energy = one(lines, "energy", "EM-KIINTEA")
    assert (energy.quantity, energy.amount) == (D(744), D("66.89"))  # 744 × 0.0899 = 66.8856
    assert energy.estimated_intervals == 1 and energy.flags == ("estimated",)
    assert one(lines, "electricity_tax").estimated_intervals == 1


def test_a_missing_interval_holds_the_period_by_default() -> None:
    with pytest.raises(PeriodHeldError) as held:
        rate_january(january_with_quality(200, Quality.MISSING))
    assert held.value.missing_intervals == 1
    assert held.value.first_missing == local_midnight_utc(date(2025, 1, 1)) + timedelta(hours=200)


def test_a_missing_interval_under_bill_marked_is_not_invented_and_is_marked() -> None:
    lines = rate_january(january_with_quality(200, Quality.MISSING), MissingDataPolicy.BILL_MARKED)
    energy = one(lines, "energy", "EM-KIINTEA")
    assert (energy.quantity, energy.amount) == (D(743), D("66.80"))  # 743 × 0.0899 = 66.7957
    assert energy.missing_intervals == 1 and "missing" in energy.flags


def test_lines_serialise_to_json_friendly_dicts() -> None:
    line = one(rate_january(january_with_quality(100, Quality.ESTIMATED)), "electricity_tax")
    data = line.to_dict()
    assert data["amount"] == "16.76" and data["tax_basis"] == "744" and data["flags"] == ["estimated"]
    assert data["period_start"] == "2024-12-31T22:00:00+00:00"


# --- more heating, product changes and move-out ------------------------------------------------------


@pytest.mark.parametrize(
    "flow,annual",
    [("0.2", "373.98"), ("0.21", "388.072"), ("5.0", "7138.14"), ("6", "7951.14")],
)
def test_oulun_energia_flow_formula_brackets(flow: str, annual: str) -> None:
    # ≤ 0.2: 2.71 × 138; 0.21–5.0: 2.71 × (34 + 520 V); > 5: 2.71 × (1134 + 300 V)
    row = CATALOGUE.product("KL-KUUKAUSI").prices.values()[0]
    assert row.basic_fee_formula is not None
    assert row.basic_fee_formula.annual_fee(D(flow)) == D(annual)


def test_heating_seasonal_energy_and_power_based_basic_fee() -> None:
    point = AccountingPoint(
        "643007574000000031",
        heating_products=(
            ProductAssignment("KL-KAUSI", date(2024, 1, 1), date(2025, 4, 16)),
            ProductAssignment("KL-TASA", date(2025, 4, 16)),
        ),
        contracted_flow_m3h=D("0.5"),
        contracted_power_kw=D("20"),
    )
    lines = rate_period(
        point=point,
        agreement=None,
        catalogue=CATALOGUE,
        period_start=date(2025, 3, 1),
        period_end=date(2025, 5, 1),
        metering=[flat_series(date(2025, 3, 1), date(2025, 5, 1), 60, "0.001", unit="MWh")],
    )
    # March: 743 h = 0.743 MWh × 92.00 = 68.356; 1.–15.4.: 360 h = 0.36 MWh × 60.00 = 21.60
    assert one(lines, "energy_winter", "KL-KAUSI").amount == D("68.36")
    assert one(lines, "energy_spring_autumn", "KL-KAUSI").amount == D("21.60")
    # 16.–30.4.: 360 h = 0.36 MWh × 70.00 = 25.20 at the flat price
    assert one(lines, "energy", "KL-TASA").amount == D("25.20")
    # KL-KAUSI basic fee 2.71 × (34 + 260) = 796.74 €/a: March 66.395 → 66.40; April 15/30 → 33.1975 → 33.20
    assert [ln.amount for ln in pick(lines, "basic_fee", "KL-KAUSI")] == [D("66.40"), D("33.20")]
    # KL-TASA 300 + 25 × 20 kW = 800 €/a → 66.6667 × 15/30 = 33.333 → 33.33
    assert one(lines, "basic_fee", "KL-TASA").amount == D("33.33")


def test_a_network_product_change_mid_month_splits_energy_and_basic_fees_by_days() -> None:
    point = AccountingPoint(
        GSRN,
        tax_class="1",
        main_fuse="3x25A",
        network_products=(
            ProductAssignment("SV-YLEIS", date(2020, 1, 1), date(2025, 6, 11)),
            ProductAssignment("SV-AIKA", date(2025, 6, 11)),
        ),
    )
    lines = rate_period(
        point=point,
        agreement=None,
        catalogue=CATALOGUE,
        period_start=date(2025, 6, 1),
        period_end=date(2025, 7, 1),
        metering=[flat_series(date(2025, 6, 1), date(2025, 7, 1), 60, "1")],
    )
    # 1.–10.6.: 240 kWh × 0.0318 = 7.632; basic 14.20 × 10/30 = 4.7333
    assert (one(lines, "energy", "SV-YLEIS").amount, one(lines, "basic_fee", "SV-YLEIS").amount) == (
        D("7.63"),
        D("4.73"),
    )
    # 11.–30.6.: 20 days: day 300 kWh × 0.0347 = 10.41, night 180 × 0.0116 = 2.088, basic 24.38 × 20/30 = 16.2533
    assert one(lines, "energy_day", "SV-AIKA").amount == D("10.41")
    assert one(lines, "energy_night", "SV-AIKA").amount == D("2.09")
    assert one(lines, "basic_fee", "SV-AIKA").amount == D("16.25")
    # the tax follows the point across the product change: 720 kWh in two lines
    assert sum(ln.quantity for ln in pick(lines, "electricity_tax")) == D(720)


def test_move_out_mid_month_stops_billing_on_the_end_day() -> None:
    lines = rate_period(
        point=electricity_point(),
        agreement=Agreement("EM-KIINTEA", date(2024, 1, 1), end=date(2025, 6, 21)),
        catalogue=CATALOGUE,
        period_start=date(2025, 6, 1),
        period_end=date(2025, 7, 1),
        metering=[flat_series(date(2025, 6, 1), date(2025, 7, 1), 60, "1")],
    )
    energy = one(lines, "energy", "EM-KIINTEA")
    assert (energy.quantity, energy.period_end) == (D(480), local_midnight_utc(date(2025, 6, 21)))
    assert one(lines, "basic_fee", "EM-KIINTEA").amount == D("2.60")  # 3.90 × 20/30


def test_a_power_determinant_ignores_the_month_before_the_move_in() -> None:
    point = AccountingPoint(
        GSRN,
        tax_class="1",
        main_fuse="3x25A",
        network_products=(ProductAssignment("SV-TEHO-HELEN", date(2025, 1, 15)),),
    )
    lines = rate_period(
        point=point,
        agreement=None,
        catalogue=CATALOGUE,
        period_start=date(2025, 1, 1),
        period_end=date(2025, 2, 1),
        metering=[january_2025_with_peaks()],  # the peaks on 8.–11.1. belong to the previous occupant
    )
    line = one(lines, "power_fee")
    # only 15.–31.1. counts: every hour 1 kWh, day hours weigh 1 → 1 kW × 3.85 × 17/31 = 2.1113
    assert (line.quantity, line.days, line.amount) == (D(1), 17, D("2.11"))
