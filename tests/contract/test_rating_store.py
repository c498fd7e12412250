"""Rating on the store, on SQLite and PostgreSQL: prices, catalogue versions, assignments, rating, re-rating."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.config import Settings
from gateway.rating.assignments import (
    AssignmentSpec,
    assign_product,
    list_assignments,
    unannounced_network_points,
)
from gateway.rating.batch import load_metering_matrix
from gateway.rating.catalogues import active_catalogue, load_catalogue_file, store_catalogue
from gateway.rating.core import AccountingPoint, Agreement, Grid, PeriodHeldError, ProductAssignment, rate_period
from gateway.rating.core.calendar import local_midnight_utc
from gateway.rating.core.quality import Quality
from gateway.rating.core.series import MeteringSeries as CoreSeries
from gateway.rating.errors import RatingInputError
from gateway.rating.handlers import register_rating_handlers
from gateway.rating.heat import parse_heat_csv, store_heat_series
from gateway.rating.prices import import_price_file, load_prices, parse_price_file
from gateway.rating.service import (
    latest_rating,
    line_from_json,
    line_to_json,
    rate_accounting_point,
    rate_and_record,
    rerate,
)
from gateway.store.rating_tables import RatingResult, SpotPrice
from outbox import HandlerRegistry
from outbox.schema import outbox_delivery, outbox_message
from outbox.types import utcnow
from outbox.worker import Worker
from tests.support.rating_store import (
    DEMO_CATALOGUE,
    FI,
    HEAT_POINT,
    OTHER_POINT,
    POINT,
    add_agreement,
    add_master_data,
    add_metering,
    price_csv,
    random_prices,
    utc,
)

JANUARY, FEBRUARY = date(2026, 1, 1), date(2026, 2, 1)
SpotPoint = tuple[Engine, np.ndarray, list[Decimal]]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def outbox_count(engine: Engine, topic: str) -> int:
    with Session(engine) as s:
        return int(s.execute(select(func.count()).where(outbox_message.c.topic == topic)).scalar_one())


def drain(engine: Engine) -> list[tuple[str, str]]:
    """Run the rating consumers until the outbox is empty: (topic, outcome) of every message handled."""
    registry = HandlerRegistry()
    register_rating_handlers(registry, engine, Settings(database_url=str(engine.url)))
    return [(o.message.topic, o.result) for o in Worker(engine, registry).drain(max_rounds=20)]


@pytest.fixture
def loaded(engine: Engine) -> Engine:
    load_catalogue_file(engine, DEMO_CATALOGUE)
    return engine


@pytest.fixture
def spot_point(loaded: Engine, tmp_path: Path) -> SpotPoint:
    """A household on spot retail + time-of-day network, January 2026 in quarter hours, from the store."""
    grid = Grid.for_local_dates(JANUARY, FEBRUARY, 15)
    rng = np.random.default_rng(4)
    prices = random_prices(rng, grid.n)
    import_price_file(loaded, write(tmp_path, "jan.csv", price_csv(grid.start, prices)))
    energy = rng.integers(0, 900_000, grid.n)
    with Session(loaded) as s, s.begin():
        add_master_data(s, POINT)
        add_agreement(s, POINT, "EM-SPOT", date(2025, 6, 1))
        catalogue = active_catalogue(s).catalogue
        assign_product(s, AssignmentSpec(POINT, "SV-AIKA", date(2025, 6, 1)), catalogue)
        add_metering(s, POINT, grid.start, energy)
    return loaded, energy, prices


# --- spot prices -------------------------------------------------------------------------------------------

def test_price_import_is_idempotent_and_a_changed_price_is_a_new_version(loaded: Engine, tmp_path: Path) -> None:
    start = utc(2025, 12, 31, 22)
    prices = [Decimal("12.34"), Decimal("-5.00"), Decimal("80.125"), Decimal("0")]
    first = import_price_file(loaded, write(tmp_path, "a.csv", price_csv(start, prices)))
    assert (first.intervals, first.new_intervals, first.changed_intervals) == (4, 4, 0)
    assert outbox_count(loaded, "prices.imported") == 1

    again = import_price_file(loaded, write(tmp_path, "b.csv", price_csv(start, prices)))
    assert again.import_id is None and again.unchanged_intervals == 4
    assert outbox_count(loaded, "prices.imported") == 1  # a no-op announces nothing

    changed = import_price_file(loaded, write(tmp_path, "c.csv", price_csv(start, [*prices[:2], Decimal("99"),
                                                                                     prices[3]])))
    assert (changed.new_intervals, changed.changed_intervals, changed.unchanged_intervals) == (0, 1, 3)
    assert [(s.start, s.end) for s in changed.spans] == [(start + timedelta(minutes=30), start + timedelta(minutes=45))]
    with Session(loaded) as s:
        versions = s.execute(select(col(SpotPrice.version), col(SpotPrice.price_milli_eur_per_mwh))
                             .where(col(SpotPrice.interval_start) == start + timedelta(minutes=30))
                             .order_by(col(SpotPrice.version))).all()
        assert versions == [(1, 80_125), (2, 99_000)]  # the earlier version is kept
        latest = load_prices(s, [FI], start, start + timedelta(hours=1))
        assert [p for series in latest for p in series.prices_eur_per_mwh] == [
            Decimal("12.34"), Decimal("-5"), Decimal("99"), Decimal("0")]


def test_prices_as_of_an_instant_before_a_correction_are_the_earlier_version(loaded: Engine, tmp_path: Path) -> None:
    start = utc(2025, 12, 31, 22)
    import_price_file(loaded, write(tmp_path, "a.csv", price_csv(start, [Decimal("10")])))
    between = utcnow()
    import_price_file(loaded, write(tmp_path, "b.csv", price_csv(start, [Decimal("11")])))
    with Session(loaded) as s:
        [before] = load_prices(s, [FI], start, start + timedelta(minutes=15), as_of=between)
        [now] = load_prices(s, [FI], start, start + timedelta(minutes=15))
    assert before.prices_eur_per_mwh == (Decimal("10"),) and now.prices_eur_per_mwh == (Decimal("11"),)


def test_negative_prices_are_kept_as_published(loaded: Engine) -> None:
    path = Path(__file__).resolve().parents[1] / "fixtures" / "prices" / "prices_fi_2023-11-01.csv"
    result = import_price_file(loaded, path)
    with Session(loaded) as s:
        series = load_prices(s, [FI], utc(2023, 10, 31, 22), utc(2023, 11, 2))
    stored = [p for ps in series for p in ps.prices_eur_per_mwh]
    assert result.new_intervals == len(stored)
    assert Decimal("-500") in stored and Decimal("-4.54") in stored


def test_entsoe_document_is_detected_by_content_and_imported(loaded: Engine) -> None:
    path = Path(__file__).resolve().parents[1] / "fixtures" / "prices" / "day_ahead_prices_fi.xml"
    fmt, series = parse_price_file(path.read_bytes())
    assert fmt == "entsoe"
    result = import_price_file(loaded, path)
    assert result.new_intervals == sum(len(s.prices_eur_per_mwh) for s in series)
    assert import_price_file(loaded, path).import_id is None


@pytest.mark.parametrize("name", ["invalid_document_type_a65.xml", "invalid_prices_overlap.csv",
                                  "invalid_schema_no_type.xml", "invalid_a01_missing_position.xml"])
def test_invalid_price_files_are_refused_without_storing_anything(loaded: Engine, name: str) -> None:
    path = Path(__file__).resolve().parents[1] / "fixtures" / "prices" / name
    with pytest.raises(RatingInputError):
        import_price_file(loaded, path)
    with Session(loaded) as s:
        assert s.execute(select(func.count()).select_from(SpotPrice)).scalar_one() == 0


# --- catalogue versions ----------------------------------------------------------------------------------

def test_catalogue_versions_the_newest_is_active_and_reloading_it_is_a_no_op(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(RatingInputError, match="no catalogue loaded"), Session(engine) as s:
        active_catalogue(s)
    first, created = load_catalogue_file(engine, DEMO_CATALOGUE)
    assert created
    again, created = load_catalogue_file(engine, DEMO_CATALOGUE)
    assert not created and again.id == first.id
    changed = DEMO_CATALOGUE.read_text().replace('margin = "0.49"', 'margin = "0.59"')
    changed += '\n[datahub.tax_categories]\n"1" = "1"\n"0" = "2"\n'
    second, created = load_catalogue_file(engine, write(tmp_path, "v2.toml", changed))
    assert created and second.id != first.id
    with Session(engine) as s:
        active = active_catalogue(s)
        assert active.version_id == second.id
        assert active.catalogue.product("EM-SPOT").prices.values()[0].energy["margin"] == Decimal("0.0059")
        assert active.tax_class_of("0", POINT) == "2"
        with pytest.raises(RatingInputError, match="TaxCategory '2' is not mapped"):
            active.tax_class_of("2", POINT)


def test_an_invalid_catalogue_is_refused_and_the_active_one_stays(loaded: Engine, tmp_path: Path) -> None:
    broken = DEMO_CATALOGUE.read_text().replace('rate_percent = "25.5"', "rate_percent = 25.5", 1)
    with pytest.raises(RatingInputError, match="as a string"):
        load_catalogue_file(loaded, write(tmp_path, "broken.toml", broken))
    with pytest.raises(RatingInputError, match=r"must be a \.toml"):
        load_catalogue_file(loaded, write(tmp_path, "catalogue.json", "{}"))
    with Session(loaded) as s, s.begin():
        with pytest.raises(RatingInputError, match="unknown tax class"):
            store_catalogue(s, DEMO_CATALOGUE.read_text() + '\n[datahub.tax_categories]\n"1" = "9"\n', "toml", "x")
        assert active_catalogue(s).version_id == 1


# --- product assignments ---------------------------------------------------------------------------------

def test_a_network_product_needs_a_point_that_an_e58_announced(loaded: Engine) -> None:
    with Session(loaded) as s, s.begin():
        catalogue = active_catalogue(s).catalogue
        with pytest.raises(RatingInputError, match=f"{OTHER_POINT} was never announced by an E58.*--force"):
            assign_product(s, AssignmentSpec(OTHER_POINT, "SV-AIKA", date(2026, 1, 1)), catalogue)
        assert unannounced_network_points(s, [AssignmentSpec(OTHER_POINT, "SV-AIKA", date(2026, 1, 1)),
                                              AssignmentSpec(HEAT_POINT, "KL-KUUKAUSI", date(2026, 1, 1))],
                                          catalogue) == [OTHER_POINT]
        # forced, it is stored; district-heating points are never in Datahub and need no E58
        assert assign_product(s, AssignmentSpec(OTHER_POINT, "SV-AIKA", date(2026, 1, 1)), catalogue, force=True)[1]
        assert assign_product(s, AssignmentSpec(HEAT_POINT, "KL-KUUKAUSI", date(2026, 1, 1),
                                                contracted_flow_m3h=Decimal("0.5")), catalogue)[1]
        add_master_data(s, POINT)
        assert assign_product(s, AssignmentSpec(POINT, "SV-AIKA", date(2026, 1, 1)), catalogue)[1]
        assert unannounced_network_points(s, [AssignmentSpec(POINT, "SV-YLEIS", date(2026, 3, 1))], catalogue) == []


def test_product_assignments_have_one_product_per_segment_and_day(loaded: Engine) -> None:
    with Session(loaded) as s, s.begin():
        add_master_data(s, POINT)
        catalogue = active_catalogue(s).catalogue
        _, created = assign_product(s, AssignmentSpec(POINT, "SV-AIKA", date(2026, 1, 1)), catalogue)
        assert created
        # a product change ends the open-ended predecessor the day before
        assign_product(s, AssignmentSpec(POINT, "SV-YLEIS", date(2026, 3, 1)), catalogue)
        # the heat segment is independent
        assign_product(s, AssignmentSpec(POINT, "KL-KUUKAUSI", date(2026, 1, 1), contracted_flow_m3h=Decimal("1.2")),
                       catalogue)
        # loading the same assignments again (e.g. the same file) stores nothing
        assert not assign_product(s, AssignmentSpec(POINT, "SV-AIKA", date(2026, 1, 1)), catalogue)[1]
        assert not assign_product(s, AssignmentSpec(POINT, "SV-YLEIS", date(2026, 3, 1)), catalogue)[1]
        with pytest.raises(RatingInputError, match="already has SV-AIKA from 2026-01-01 to 2026-02-28"):
            assign_product(s, AssignmentSpec(POINT, "SV-KAUSI", date(2025, 12, 1), date(2026, 1, 2)), catalogue)
        with pytest.raises(RatingInputError, match="come from the F04 agreement"):
            assign_product(s, AssignmentSpec(POINT, "EM-SPOT", date(2026, 1, 1)), catalogue)
        with pytest.raises(RatingInputError, match="not in the active catalogue"):
            assign_product(s, AssignmentSpec(POINT, "NOPE", date(2026, 1, 1)), catalogue)
    with pytest.raises(RatingInputError, match="not a valid GSRN"):
        AssignmentSpec("643007574000000018", "SV-AIKA", date(2026, 1, 1))
    with Session(loaded) as s:
        rows = [(r.segment, r.product_code, r.valid_from, r.valid_to) for r in list_assignments(s, POINT)]
    assert rows == [
        ("district_heating", "KL-KUUKAUSI", date(2026, 1, 1), None),
        ("network", "SV-AIKA", date(2026, 1, 1), date(2026, 3, 1)),
        ("network", "SV-YLEIS", date(2026, 3, 1), None),
    ]


# --- rating from the store -------------------------------------------------------------------------------

def test_rating_from_the_store_equals_the_core_on_the_same_inputs(spot_point: SpotPoint) -> None:
    engine, energy, prices = spot_point
    lines = rate_accounting_point(engine, POINT, JANUARY, FEBRUARY)

    grid = Grid.for_local_dates(JANUARY, FEBRUARY, 15)
    with Session(engine) as s:
        catalogue = active_catalogue(s).catalogue
        same_prices = load_prices(s, [FI], grid.start, grid.end)
    expected = rate_period(
        point=AccountingPoint(POINT, tax_class="1", main_fuse="3x25A",
                              network_products=(ProductAssignment("SV-AIKA", date(2025, 6, 1)),)),
        agreement=Agreement("EM-SPOT", date(2025, 6, 1)),
        catalogue=catalogue, period_start=JANUARY, period_end=FEBRUARY,
        metering=[CoreSeries.from_micro(grid.start, 15, energy)], prices=same_prices,
    )
    assert lines == expected
    assert {ln.component for ln in lines} >= {"spot_energy", "spot_margin", "energy_day", "energy_night",
                                             "electricity_tax", "basic_fee"}
    assert [p for ps in same_prices for p in ps.prices_eur_per_mwh] == prices


@pytest.mark.parametrize("month", [date(2026, 3, 1), date(2025, 10, 1)], ids=["dst-spring", "dst-autumn"])
@pytest.mark.parametrize("minutes", [15, 60])
def test_dst_months_from_the_store_equal_the_core_at_both_resolutions(
    loaded: Engine, tmp_path: Path, month: date, minutes: int
) -> None:
    end = date(month.year, month.month + 1, 1)
    grid = Grid.for_local_dates(month, end, minutes)
    quarters = Grid.for_local_dates(month, end, 15)
    assert quarters.n == 31 * 96 + (-4 if month.month == 3 else 4)
    rng = np.random.default_rng(minutes)
    import_price_file(loaded, write(tmp_path, "p.csv", price_csv(quarters.start, random_prices(rng, quarters.n))))
    energy = rng.integers(0, 4_000_000, grid.n)
    with Session(loaded) as s, s.begin():
        add_master_data(s, OTHER_POINT, tax_category="2", fuse="3x35")
        add_agreement(s, OTHER_POINT, "EM-HYBRIDI", date(2025, 1, 1))
        assign_product(s, AssignmentSpec(OTHER_POINT, "SV-KAUSI", date(2025, 1, 1)), active_catalogue(s).catalogue)
        # two deliveries of the month: days 1-15, then the rest
        half = Grid.for_local_dates(month, date(month.year, month.month, 16), minutes).n
        add_metering(s, OTHER_POINT, grid.start, energy[:half], minutes=minutes)
        add_metering(s, OTHER_POINT, grid.instant(half), energy[half:], minutes=minutes)
    lines = rate_accounting_point(loaded, OTHER_POINT, month, end)
    with Session(loaded) as s:
        catalogue = active_catalogue(s).catalogue
        prices = load_prices(s, [FI], grid.start, grid.end)
    expected = rate_period(
        point=AccountingPoint(OTHER_POINT, tax_class="2", main_fuse="3x35A",
                              network_products=(ProductAssignment("SV-KAUSI", date(2025, 1, 1)),)),
        agreement=Agreement("EM-HYBRIDI", date(2025, 1, 1)), catalogue=catalogue, period_start=month,
        period_end=end, metering=[CoreSeries.from_micro(grid.start, minutes, energy)], prices=prices,
    )
    assert lines == expected
    tax = next(ln for ln in lines if ln.component == "electricity_tax")
    assert tax.tax_class == "2" and tax.quantity * 10**6 == int(energy.sum())


def test_a_move_in_on_the_17th_bills_from_the_17th(loaded: Engine, tmp_path: Path) -> None:
    grid = Grid.for_local_dates(JANUARY, FEBRUARY, 60)
    with Session(loaded) as s, s.begin():
        add_master_data(s, OTHER_POINT, fuse="3x25")
        add_agreement(s, OTHER_POINT, "EM-KIINTEA", date(2026, 1, 17))
        add_metering(s, OTHER_POINT, grid.start, [1_000_000] * grid.n, minutes=60)
    lines = rate_accounting_point(loaded, OTHER_POINT, JANUARY, FEBRUARY)
    energy = next(ln for ln in lines if ln.component == "energy")
    fee = next(ln for ln in lines if ln.component == "basic_fee")
    assert energy.quantity == Decimal(15 * 24) and energy.amount == Decimal("32.36")  # 360 kWh × 8.99 c
    assert (fee.days, fee.days_in_month, fee.amount) == (15, 31, Decimal("1.89"))  # 3.90 € × 15/31


def test_a_mid_month_product_change_rates_each_agreement_for_its_own_days(loaded: Engine) -> None:
    grid = Grid.for_local_dates(JANUARY, FEBRUARY, 60)
    with Session(loaded) as s, s.begin():
        add_master_data(s, OTHER_POINT)
        add_agreement(s, OTHER_POINT, "EM-KIINTEA", date(2025, 1, 1), date(2026, 1, 11), agreement_id="old")
        add_agreement(s, OTHER_POINT, "EM-AIKA", date(2026, 1, 11), agreement_id="new")
        add_metering(s, OTHER_POINT, grid.start, [500_000] * grid.n, minutes=60)
    lines = rate_accounting_point(loaded, OTHER_POINT, JANUARY, FEBRUARY)
    fees = {ln.product_code: ln.days for ln in lines if ln.component == "basic_fee"}
    assert fees == {"EM-KIINTEA": 10, "EM-AIKA": 21}
    kwh = sum(ln.quantity for ln in lines if ln.component.startswith("energy"))
    assert kwh == Decimal("0.5") * grid.n


def test_heat_readings_from_csv_are_rated_with_the_assigned_monthly_product(loaded: Engine) -> None:
    start = local_midnight_utc(date(2025, 10, 1))
    hours = int((local_midnight_utc(date(2025, 11, 1)) - start) / timedelta(hours=1))
    assert hours == 745  # the DST autumn month has 745 hours
    rows = ["start_utc,end_utc,kwh,quality"]
    for h in range(hours):
        a, b = start + timedelta(hours=h), start + timedelta(hours=h + 1)
        rows.append(f"{a.isoformat()},{b.isoformat()},2.5,{'estimated' if h == 5 else ''}")
    with Session(loaded) as s, s.begin():
        assign_product(s, AssignmentSpec(HEAT_POINT, "KL-KUUKAUSI", date(2025, 1, 1),
                                         contracted_flow_m3h=Decimal("1.5")), active_catalogue(s).catalogue)
        stored = store_heat_series(s, HEAT_POINT, parse_heat_csv("\n".join(rows)))
    assert [v["version"] for v in stored] == [1]
    lines = rate_accounting_point(loaded, HEAT_POINT, date(2025, 10, 1), date(2025, 11, 1))
    energy = next(ln for ln in lines if ln.component == "energy_m10")
    assert energy.unit == "MWh" and energy.quantity == Decimal("1.8625")  # 745 × 2.5 kWh
    assert energy.amount == Decimal("118.73") and energy.estimated_intervals == 1  # × 63.75 €/MWh
    fee = next(ln for ln in lines if ln.component == "basic_fee")
    assert fee.amount == Decimal("183.83")  # 2.71 × (34 + 520 × 1.5) € / 12 = 183.828…


def test_a_point_without_products_or_catalogue_data_gives_a_clear_error(loaded: Engine) -> None:
    with pytest.raises(RatingInputError, match="no agreement or product assignment"):
        rate_accounting_point(loaded, OTHER_POINT, JANUARY, FEBRUARY)


def test_quality_flags_survive_the_store(loaded: Engine) -> None:
    grid = Grid.for_local_dates(JANUARY, FEBRUARY, 60)
    quality = np.zeros(grid.n, dtype=np.uint8)
    quality[3] = Quality.ESTIMATED
    quality[7] = Quality.MISSING
    with Session(loaded) as s, s.begin():
        add_master_data(s, OTHER_POINT)
        add_agreement(s, OTHER_POINT, "EM-KIINTEA", date(2025, 1, 1))
        add_metering(s, OTHER_POINT, grid.start, [1_000_000] * grid.n, quality=quality, minutes=60)
    with pytest.raises(PeriodHeldError):  # the demo catalogue holds periods with missing data
        rate_accounting_point(loaded, OTHER_POINT, JANUARY, FEBRUARY)

    marked = DEMO_CATALOGUE.read_text().replace('missing_data_policy = "hold"', 'missing_data_policy = "bill_marked"')
    with Session(loaded) as s, s.begin():
        store_catalogue(s, marked, "toml", "bill_marked.toml")
    [energy] = [ln for ln in rate_accounting_point(loaded, OTHER_POINT, JANUARY, FEBRUARY) if ln.component == "energy"]
    assert (energy.estimated_intervals, energy.missing_intervals) == (1, 1)
    assert energy.quantity == grid.n - 1 and energy.flags == ("estimated", "missing")


# --- recorded ratings and re-rating ----------------------------------------------------------------------

def test_lines_round_trip_through_json(spot_point: SpotPoint) -> None:
    lines = rate_accounting_point(spot_point[0], POINT, JANUARY, FEBRUARY)
    assert [line_from_json(line_to_json(ln)) for ln in lines] == lines


def test_rerating_the_same_inputs_gives_no_delta(spot_point: SpotPoint) -> None:
    engine = spot_point[0]
    _, first = rate_and_record(engine, POINT, JANUARY, FEBRUARY)
    assert first is not None and first.revision == 1
    assert sum(Decimal(d["amount"]) for d in first.delta) == Decimal(first.total)
    with Session(engine) as s, s.begin():
        assert rerate(s, POINT, JANUARY, FEBRUARY, cause="test") is None
        assert rerate(s, POINT, JANUARY, FEBRUARY, cause="test") is None
    assert rate_and_record(engine, POINT, JANUARY, FEBRUARY)[1] is None
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(RatingResult)).scalar_one() == 1


def test_a_new_metering_version_produces_delta_lines_through_the_outbox(
    spot_point: SpotPoint,
) -> None:
    engine, energy, _ = spot_point
    _, first = rate_and_record(engine, POINT, JANUARY, FEBRUARY)
    assert first is not None
    # the setup's price import is announced after the period was rated: re-rated, nothing changed
    assert drain(engine) == [("prices.imported", "done"), ("rating.rerate", "done")]
    with Session(engine) as s:
        assert latest_rating(s, POINT, JANUARY, FEBRUARY).revision == 1  # type: ignore[union-attr]

    grid = Grid.for_local_dates(JANUARY, FEBRUARY, 15)
    day = Grid.for_local_dates(date(2026, 1, 10), date(2026, 1, 11), 15)
    corrected = energy[(day.start - grid.start) // grid.step:][: day.n] + 250_000  # +0.25 kWh per quarter
    with Session(engine) as s, s.begin():
        add_metering(s, POINT, day.start, corrected, announce=True)
    assert drain(engine) == [("metering.received", "done"), ("rating.rerate", "done")]

    with Session(engine) as s:
        latest = latest_rating(s, POINT, JANUARY, FEBRUARY)
    assert latest is not None and latest.revision == 2 and latest.cause.startswith("metering.received:")
    deltas = [line_from_json(d) for d in latest.delta]
    assert all(d.is_delta for d in deltas)
    assert {d.component for d in deltas} == {"spot_energy", "spot_margin", "energy_day", "energy_night",
                                            "electricity_tax"}
    assert sum(d.quantity for d in deltas if d.component == "electricity_tax") == Decimal("0.25") * day.n
    assert Decimal(latest.total) - Decimal(first.total) == Decimal(latest.delta_total)
    assert [line_from_json(d) for d in latest.lines] == rate_accounting_point(engine, POINT, JANUARY, FEBRUARY)
    # the same event again (a redelivery or a replay) changes nothing
    with Session(engine) as s, s.begin():
        assert rerate(s, POINT, JANUARY, FEBRUARY, cause="again") is None


def test_a_new_price_version_for_a_rated_period_produces_delta_lines(
    spot_point: SpotPoint, tmp_path: Path,
) -> None:
    engine, energy, prices = spot_point
    rate_and_record(engine, POINT, JANUARY, FEBRUARY)
    drain(engine)
    grid = Grid.for_local_dates(JANUARY, FEBRUARY, 15)
    changed = list(prices)
    changed[100] += Decimal("1000")
    import_price_file(engine, write(tmp_path, "fix.csv", price_csv(grid.start, changed)))
    assert drain(engine) == [("prices.imported", "done"), ("rating.rerate", "done")]
    with Session(engine) as s:
        latest = latest_rating(s, POINT, JANUARY, FEBRUARY)
    assert latest is not None and latest.revision == 2
    [delta] = [line_from_json(d) for d in latest.delta]
    assert delta.component == "spot_energy" and delta.quantity == 0
    expected = Decimal(int(energy[100])) / 10**6 * Decimal("1")  # +1000 €/MWh = +1 €/kWh on that quarter
    assert abs(delta.amount - expected) <= Decimal("0.01")


def test_the_batch_loader_puts_the_latest_version_of_every_point_in_one_matrix(loaded: Engine) -> None:
    grid = Grid.for_local_dates(JANUARY, date(2026, 1, 3), 15)
    with Session(loaded) as s, s.begin():
        add_metering(s, POINT, grid.start, np.full(grid.n, 1, dtype=np.int64))
        add_metering(s, OTHER_POINT, grid.start + 4 * grid.step, np.full(8, 2, dtype=np.int64))
        add_metering(s, POINT, grid.start, np.full(grid.n, 3, dtype=np.int64))  # version 2 wins
        add_metering(s, HEAT_POINT, grid.start - 4 * grid.step, np.arange(8, dtype=np.int64))  # reaches outside
    with loaded.connect() as conn:
        matrix = load_metering_matrix(conn, grid)
        only = load_metering_matrix(conn, grid, [OTHER_POINT])
    assert matrix.points == (POINT, OTHER_POINT, HEAT_POINT) and matrix.rows == 4
    assert only.points == (OTHER_POINT,) and (only.energy[0] == matrix.energy[1]).all()
    assert matrix.energy[2, :4].tolist() == [4, 5, 6, 7] and (matrix.quality[2, 4:] == Quality.MISSING).all()
    assert (matrix.energy[2, 4:] == 0).all()
    assert (matrix.energy[0] == 3).all() and (matrix.quality[0] == Quality.MEASURED).all()
    assert (matrix.energy[1, 4:12] == 2).all() and (matrix.quality[1, :4] == Quality.MISSING).all()
    assert (matrix.quality[1, 12:] == Quality.MISSING).all()


def test_from_datahub_messages_to_delta_lines(loaded: Engine, tmp_path: Path) -> None:
    """E58 + F04 + E66 through the receive pipeline, rated and recorded; a corrected E66 yields deltas."""
    from gateway.bootstrap import build_registry
    from gateway.receive import ACCEPTED, CHANNEL_DATAHUB, CHANNEL_SOAP, Receiver
    from mappings import samples
    from tests.support.pipeline import fixture, register_parties

    register_parties(loaded)
    receiver = Receiver(loaded)
    point = samples.gsrn(1)
    assert receiver.receive(fixture("e58-accounting-point-1.xml"), authenticated_gln=samples.DATAHUB_GLN,
                            channel=CHANNEL_DATAHUB).result == ACCEPTED
    f04 = samples.f04_message(point, local_midnight_utc(JANUARY), product_code="EM-SPOT")
    outcome = receiver.receive(f04, authenticated_gln=samples.DATAHUB_GLN, channel=CHANNEL_DATAHUB)
    assert outcome.result == ACCEPTED, outcome
    days = [JANUARY + timedelta(days=d) for d in range(31)]
    for day in days:
        e66 = samples.e66_message(samples.OUR_DSO_GLN, samples.OUR_SUPPLIER_GLN, [point], day)
        outcome = receiver.receive(e66, authenticated_gln=samples.OUR_DSO_GLN, channel=CHANNEL_SOAP)
        assert outcome.result == ACCEPTED, outcome
    grid = Grid.for_local_dates(JANUARY, FEBRUARY, 15)
    import_price_file(loaded, write(tmp_path, "jan.csv", price_csv(grid.start, random_prices(
        np.random.default_rng(9), grid.n))))
    with Session(loaded) as s, s.begin():
        assign_product(s, AssignmentSpec(point, "SV-AIKA", date(2025, 1, 1)), active_catalogue(s).catalogue)

    rated, first = rate_and_record(loaded, point, JANUARY, FEBRUARY)
    assert first is not None and {ln.tax_class for ln in rated.lines} == {None, "1"}
    assert len(first.inputs["metering"]) == 31  # one stored series per day
    worker = Worker(loaded, build_registry(Settings(database_url=str(loaded.url)), loaded))
    worker.drain(max_rounds=50)
    with Session(loaded) as s:
        assert latest_rating(s, point, JANUARY, FEBRUARY).revision == 1  # type: ignore[union-attr]

    corrected = samples.e66_message(samples.OUR_DSO_GLN, samples.OUR_SUPPLIER_GLN, [point], days[9], seed=1,
                                    message_id="3f1c9a52-0000-4000-8000-000000000001")
    assert receiver.receive(corrected, authenticated_gln=samples.OUR_DSO_GLN, channel=CHANNEL_SOAP).result == ACCEPTED
    worker.drain(max_rounds=50)
    with Session(loaded) as s:
        latest = latest_rating(s, point, JANUARY, FEBRUARY)
    assert latest is not None and latest.revision == 2
    assert Decimal(latest.delta_total) == Decimal(latest.total) - Decimal(first.total) != 0
    assert {line_from_json(d).component for d in latest.delta} >= {"spot_energy", "electricity_tax"}


def test_a_period_that_cannot_be_rerated_fails_alone_and_others_proceed(loaded: Engine) -> None:
    grid = Grid.for_local_dates(JANUARY, FEBRUARY, 60)
    with Session(loaded) as s, s.begin():
        for gsrn in (POINT, OTHER_POINT):
            add_master_data(s, gsrn)
            add_agreement(s, gsrn, "EM-KIINTEA", date(2025, 1, 1), agreement_id=gsrn)
            add_metering(s, gsrn, grid.start, [1_000_000] * grid.n, minutes=60)
    for gsrn in (POINT, OTHER_POINT):
        rate_and_record(loaded, gsrn, JANUARY, FEBRUARY)
    missing = np.full(24, Quality.MISSING, dtype=np.uint8)
    with Session(loaded) as s, s.begin():  # one E66 with two series: a hole for one point, more for the other
        add_metering(s, POINT, grid.start, [0] * 24, quality=missing, minutes=60, announce=True)
        add_metering(s, OTHER_POINT, grid.start, [2_000_000] * 24, minutes=60, announce=True)
    outcomes = drain(loaded)
    assert sorted(outcomes) == [("metering.received", "done"), ("metering.received", "done"),
                                ("rating.rerate", "done"), ("rating.rerate", "retry")]
    with Session(loaded) as s:
        assert latest_rating(s, OTHER_POINT, JANUARY, FEBRUARY).revision == 2  # type: ignore[union-attr]
        assert latest_rating(s, POINT, JANUARY, FEBRUARY).revision == 1  # type: ignore[union-attr]
        [error] = s.execute(select(outbox_delivery.c.last_error).where(
            outbox_delivery.c.state == "pending", outbox_delivery.c.consumer == "rating.rerate-period")).scalars()
    assert "PeriodHeldError" in error and "24 missing interval(s)" in error
