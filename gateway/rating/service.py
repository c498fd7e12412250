"""Rating an accounting point from the store, and recording rated periods so re-rating yields deltas.

Inputs, all read in the caller's session: the active catalogue, the point's latest E58 version (tax class
through the catalogue's TaxCategory mapping, main fuse), its product assignments, its F04 agreements (the
latest row per agreement id; the ProductCode picks the retail product), the latest version of every
stored metering period (active energy, electricity or heat) and the latest spot prices. The pure
``gateway.rating.core.rate_period`` does the rest. When several agreements cover the period (a product change
or a move), each is rated for its own days and the network/heat products are rated once, with the first.

A rated period is stored as revision 1; re-rating stores revision n+1 only when the lines changed, with
the delta lines against revision n (revision 1's delta is all its lines, so deltas always sum to the
current lines).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.domain.codes import Product as MeteringProduct
from gateway.domain.periods import RESOLUTION_MINUTES
from gateway.events import RATING_REVISED
from gateway.rating.catalogues import ActiveCatalogue, active_catalogue
from gateway.rating.core import AccountingPoint, Agreement, PricedLine, ProductAssignment, delta_lines, rate_period
from gateway.rating.core.calendar import HELSINKI, add_months, local_midnight_utc
from gateway.rating.core.catalogue import Segment
from gateway.rating.core.series import MeteringSeries as CoreSeries
from gateway.rating.errors import RatingInputError
from gateway.rating.prices import load_prices
from gateway.store.metering import latest_series, unpack
from gateway.store.rating_tables import ProductAssignmentRow, RatingResult, SpotPrice
from gateway.store.tables import AccountingPointRow as PointRow
from gateway.store.tables import SalesAgreementRow
from outbox.types import utcnow

# E66 allows only the ebIX energy product codes; heat meters report with the active-energy code too.
ENERGY_PRODUCT = MeteringProduct.ACTIVE_ENERGY.value
_FUSE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*A?\s*$")


@dataclass(frozen=True)
class Rated:
    accounting_point: str
    period_start: date
    period_end: date  # exclusive
    lines: list[PricedLine]
    inputs: dict[str, Any]
    catalogue_version_id: int
    # Days of an electricity point (known from an E58 or a network product) that no sales agreement covers, as
    # [first, end) local-day ranges: those days have network lines only, no retail energy.
    without_sales_agreement: tuple[tuple[date, date], ...] = ()


def local_date(instant: datetime, *, ceil: bool = False) -> date:
    local = instant.astimezone(HELSINKI)
    day = local.date()
    return day + timedelta(days=1) if ceil and local.time() != time(0) else day


def normalise_fuse(text: str | None) -> str | None:
    """Datahub's FuseSize ``3x25`` (amperes) as the catalogue's ``3x25A``."""
    if text is None:
        return None
    match = _FUSE.match(text)
    return f"{match.group(1)}x{match.group(2)}A" if match else text.strip()


def _overlaps(start: date, end: date | None, first: date, last: date) -> bool:
    return start < last and (end is None or end > first)


def _agreements(session: Session, gsrn: str, first: date, end: date) -> list[tuple[int, Agreement]]:
    rows = session.execute(
        select(SalesAgreementRow).where(col(SalesAgreementRow.accounting_point) == gsrn)
        .order_by(col(SalesAgreementRow.id))
    ).scalars().all()
    latest: dict[str, SalesAgreementRow] = {}
    for row in rows:  # an F04 update is a new row of the same agreement id: the last one counts
        latest[row.agreement_id or f"row:{row.id}"] = row
    found = []
    for row in latest.values():
        if row.product_code is None or row.start is None or row.id is None:
            continue
        start = local_date(row.start)
        stop = None if row.end is None else local_date(row.end, ceil=True)
        if stop is not None and stop <= start:
            continue
        if _overlaps(start, stop, first, end):
            found.append((row.id, Agreement(row.product_code, start, stop)))
    return sorted(found, key=lambda pair: pair[1].start)


def _uncovered(first: date, end: date, agreements: Sequence[Agreement]) -> tuple[tuple[date, date], ...]:
    """The [from, to) ranges of local days first ≤ d < end that none of ``agreements`` covers."""
    gaps: list[tuple[date, date]] = []
    cursor = first
    for agreement in sorted(agreements, key=lambda a: a.start):
        if agreement.start > cursor:
            gaps.append((cursor, min(agreement.start, end)))
        cursor = end if agreement.end is None else max(cursor, agreement.end)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return tuple((a, b) for a, b in gaps if a < b)


def _assignments(session: Session, gsrn: str, first: date, end: date) -> list[ProductAssignmentRow]:
    rows = session.execute(
        select(ProductAssignmentRow)
        .where(col(ProductAssignmentRow.accounting_point) == gsrn)
        .order_by(col(ProductAssignmentRow.valid_from))
    ).scalars().all()
    return [r for r in rows if _overlaps(r.valid_from, r.valid_to, first, end)]


def _master_data(session: Session, gsrn: str, end: date) -> PointRow | None:
    """The latest E58 version valid before the period ends (mid-period changes are not split)."""
    return session.execute(
        select(PointRow)
        .where(col(PointRow.gsrn) == gsrn, col(PointRow.valid_from) < local_midnight_utc(end))
        .order_by(col(PointRow.valid_from).desc(), col(PointRow.id).desc())
        .limit(1)
    ).scalar_one_or_none()


def _lookback_start(active: ActiveCatalogue, assignments: Sequence[ProductAssignmentRow], first: date) -> date:
    months = 1
    for row in assignments:
        product = active.catalogue.products.get(row.product_code)
        if product is not None and product.power_rule is not None:
            months = max(months, active.catalogue.power_rules[product.power_rule].lookback_months)
    return min(first, add_months(date(first.year, first.month, 1), 1 - months))


def _metering(session: Session, gsrn: str, first: date, end: date) -> tuple[list[CoreSeries], list[list[int]]]:
    rows = [r for r in latest_series(session, gsrn, local_midnight_utc(first), local_midnight_utc(end))
            if r.product == ENERGY_PRODUCT]
    # Overlapping periods of different shapes: the one received last wins, whatever its version number.
    rows.sort(key=lambda r: (r.received_at, r.id or 0))
    series = []
    for rank, row in enumerate(rows, start=1):
        minutes = RESOLUTION_MINUTES.get(row.resolution)
        if minutes is None:
            raise RatingInputError(f"accounting point {gsrn}: resolution {row.resolution} cannot be rated")
        values, quality = unpack(row)
        series.append(CoreSeries(row.period_start, minutes, values.astype("int64", copy=False), quality,
                                 row.unit, rank))
    return series, [[int(r.id or 0), r.version] for r in rows]


def _price_import_mark(session: Session, zones: Sequence[str], start: datetime, end: datetime) -> int | None:
    if not zones:
        return None
    value = session.execute(
        select(func.max(col(SpotPrice.import_id))).where(
            col(SpotPrice.zone).in_(zones), col(SpotPrice.interval_start) >= start,
            col(SpotPrice.interval_start) < end,
        )
    ).scalar()
    return None if value is None else int(value)


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def rate_in_session(session: Session, gsrn: str, period_start: date, period_end: date) -> Rated:
    """Every priced line of local days ``period_start`` ≤ d < ``period_end`` (no writes)."""
    if period_end <= period_start:
        raise RatingInputError("the period must end after it starts")
    active = active_catalogue(session)
    catalogue = active.catalogue
    agreements = _agreements(session, gsrn, period_start, period_end)
    assigned = _assignments(session, gsrn, period_start, period_end)
    for row in assigned:
        if row.product_code not in catalogue.products:
            raise RatingInputError(f"assigned product {row.product_code} is not in the active catalogue")
    for _, agreement in agreements:
        if agreement.product_code not in catalogue.products:
            raise RatingInputError(f"agreement product {agreement.product_code} is not in the active catalogue")
    if not agreements and not assigned:
        raise RatingInputError(f"accounting point {gsrn} has no agreement or product assignment in the period")

    network = tuple(ProductAssignment(r.product_code, r.valid_from, r.valid_to)
                    for r in assigned if r.segment == Segment.NETWORK.value)
    heating = tuple(ProductAssignment(r.product_code, r.valid_from, r.valid_to)
                    for r in assigned if r.segment == Segment.DISTRICT_HEATING.value)
    master = _master_data(session, gsrn, period_end)
    fuse = next((r.main_fuse for r in reversed(assigned) if r.main_fuse), None)
    flow = next((r.contracted_flow_m3h for r in reversed(assigned) if r.contracted_flow_m3h), None)
    power = next((r.contracted_power_kw for r in reversed(assigned) if r.contracted_power_kw), None)
    point = AccountingPoint(
        id=gsrn,
        tax_class=active.tax_class_of(master.tax_category, gsrn) if network and master else None,
        main_fuse=fuse or normalise_fuse(master.main_fuse if master else None),
        network_products=network,
        heating_products=heating,
        contracted_flow_m3h=_decimal(flow),
        contracted_power_kw=_decimal(power),
    )

    metering, metering_ids = _metering(session, gsrn, _lookback_start(active, assigned, period_start), period_end)
    zones = sorted({p.price_zone for _, a in agreements
                    if (p := catalogue.products[a.product_code]).price_zone is not None})
    start_utc, end_utc = local_midnight_utc(period_start), local_midnight_utc(period_end)
    prices = load_prices(session, zones, start_utc, end_utc)

    lines: list[PricedLine] = []
    runs: list[tuple[Agreement | None, AccountingPoint]] = [(None, point)] if not agreements else [
        (agreement, point if i == 0 else replace(point, network_products=(), heating_products=()))
        for i, (_, agreement) in enumerate(agreements)
    ]
    try:
        for retail, who in runs:
            lines.extend(rate_period(point=who, agreement=retail, catalogue=catalogue, period_start=period_start,
                                     period_end=period_end, metering=metering, prices=prices))
    except KeyError as error:
        raise RatingInputError(str(error.args[0]) if error.args else str(error)) from None
    inputs = {
        "catalogue_version": active.version_id,
        "master_data": None if master is None else master.id,
        "agreements": [row_id for row_id, _ in agreements],
        "assignments": [r.id for r in assigned],
        "metering": metering_ids,
        "price_zones": zones,
        "price_import": _price_import_mark(session, zones, start_utc, end_utc),
    }
    electricity = master is not None or bool(network)
    missing = _uncovered(period_start, period_end, [a for _, a in agreements]) if electricity else ()
    return Rated(gsrn, period_start, period_end, lines, inputs, active.version_id, missing)


def rate_accounting_point(engine: Engine, gsrn: str, from_date: date, to_date_exclusive: date) -> list[PricedLine]:
    with Session(engine) as session:
        return rate_in_session(session, gsrn, from_date, to_date_exclusive).lines


# --- recorded ratings ------------------------------------------------------------------------------------

def line_to_json(line: PricedLine) -> dict[str, Any]:
    data = line.to_dict()
    data["is_delta"] = line.is_delta
    return data


def line_from_json(data: dict[str, Any]) -> PricedLine:
    return PricedLine(
        accounting_point=data["accounting_point"],
        legal_entity=data["legal_entity"],
        product_code=data["product_code"],
        component=data["component"],
        period_start=datetime.fromisoformat(data["period_start"]),
        period_end=datetime.fromisoformat(data["period_end"]),
        quantity=Decimal(data["quantity"]),
        unit=data["unit"],
        unit_price=Decimal(data["unit_price"]),
        amount=Decimal(data["amount"]),
        vat_kind=data["vat_kind"],
        vat_rate=Decimal(data["vat_rate"]),
        tax_class=data.get("tax_class"),
        estimated_intervals=int(data.get("estimated_intervals", 0)),
        missing_intervals=int(data.get("missing_intervals", 0)),
        days=data.get("days"),
        days_in_month=data.get("days_in_month"),
        is_delta=bool(data.get("is_delta", False)),
    )


def _total(lines: Sequence[PricedLine]) -> str:
    return str(sum((ln.amount for ln in lines), Decimal("0.00")))


def latest_rating(session: Session, gsrn: str, period_start: date, period_end: date) -> RatingResult | None:
    return session.execute(
        select(RatingResult)
        .where(col(RatingResult.accounting_point) == gsrn, col(RatingResult.period_start) == period_start,
               col(RatingResult.period_end) == period_end)
        .order_by(col(RatingResult.revision).desc())
        .limit(1)
    ).scalar_one_or_none()


def record_rating(session: Session, rated: Rated, cause: str) -> RatingResult | None:
    """Store ``rated`` as the period's next revision; None when nothing changed since the last one."""
    previous = latest_rating(session, rated.accounting_point, rated.period_start, rated.period_end)
    before = [] if previous is None else [line_from_json(d) for d in previous.lines]
    deltas = delta_lines(before, rated.lines)
    if previous is not None and not deltas:
        return None
    row = RatingResult(
        accounting_point=rated.accounting_point, period_start=rated.period_start, period_end=rated.period_end,
        revision=1 if previous is None else previous.revision + 1,
        lines=[line_to_json(ln) for ln in rated.lines], delta=[line_to_json(ln) for ln in deltas],
        total=_total(rated.lines), delta_total=_total(deltas), inputs=rated.inputs,
        catalogue_version_id=rated.catalogue_version_id, cause=cause[:200], created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    if row.revision > 1:  # a billed period may need a credit note and a corrected invoice now
        assert row.id is not None
        RATING_REVISED.emit(session, {
            "rating_result_id": row.id, "accounting_point": row.accounting_point,
            "period_start": row.period_start.isoformat(), "period_end": row.period_end.isoformat(),
            "revision": row.revision, "cause": row.cause}, key=f"{row.accounting_point}:{row.period_start.isoformat()}")
    return row


def rerate(session: Session, gsrn: str, period_start: date, period_end: date, cause: str) -> RatingResult | None:
    """Re-rate a period that has a recorded rating; the new revision, or None (not rated yet, or no change)."""
    if latest_rating(session, gsrn, period_start, period_end) is None:
        return None
    return record_rating(session, rate_in_session(session, gsrn, period_start, period_end), cause)


def rate_and_record(
    engine: Engine, gsrn: str, period_start: date, period_end: date, cause: str = "cli"
) -> tuple[Rated, RatingResult | None]:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        rated = rate_in_session(session, gsrn, period_start, period_end)
        return rated, record_rating(session, rated, cause)


def rated_periods_overlapping(
    session: Session, start: datetime, end: datetime, accounting_point: str | None = None
) -> list[tuple[str, date, date, dict[str, Any]]]:
    """(point, period start, period end, latest inputs) of recorded periods overlapping [start, end) UTC."""
    q = select(col(RatingResult.accounting_point), col(RatingResult.period_start), col(RatingResult.period_end),
               col(RatingResult.revision), col(RatingResult.inputs)).where(
        col(RatingResult.period_start) <= local_date(end, ceil=True),
        col(RatingResult.period_end) >= local_date(start),
    )
    if accounting_point is not None:
        q = q.where(col(RatingResult.accounting_point) == accounting_point)
    latest: dict[tuple[str, date, date], tuple[int, dict[str, Any]]] = {}
    for point, first, last, revision, inputs in session.execute(q):
        if local_midnight_utc(first) < end and local_midnight_utc(last) > start:
            key = (point, first, last)
            if key not in latest or revision > latest[key][0]:
                latest[key] = (revision, inputs)
    return sorted((k[0], k[1], k[2], v[1]) for k, v in latest.items())
