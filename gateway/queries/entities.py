"""Read models of the stored entities: accounting points, customers, agreements, metering series and their
versions, spot prices, products, product assignments and rating results. Lists are keyset-paged (`Page`);
personal identity codes appear masked unless the caller reveals one (and the HTTP layer audits that)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import func, select, tuple_, union
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.queries.pagination import BadQuery, Page, decode_cursor, encode_cursor
from gateway.rating.catalogues import active_catalogue
from gateway.rating.core.catalogue import PriceRow, Product
from gateway.rating.core.quality import ESTIMATED_CODES, MISSING_CODES, Quality
from gateway.rating.errors import RatingInputError
from gateway.store.metering import unpack
from gateway.store.rating_tables import ProductAssignmentRow, RatingResult, SpotPrice
from gateway.store.tables import AccountingPointRow, CustomerRow, MeteringSeriesRow, SalesAgreementRow

_MICRO = Decimal(1_000_000)


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _int_cursor(cursor: str | None) -> int | None:
    key = decode_cursor(cursor, 1)
    if key is None:
        return None
    if not isinstance(key[0], int):
        raise BadQuery("cursor is not one this service issued")
    return key[0]


def _page_by_id(items: list[dict[str, Any]], limit: int) -> Page[dict[str, Any]]:
    more = len(items) > limit
    items = items[:limit]
    return Page(items, encode_cursor([items[-1]["_key"]]) if more and items else None)


def _strip(page: Page[dict[str, Any]]) -> Page[dict[str, Any]]:
    return Page([{k: v for k, v in item.items() if k != "_key"} for item in page.items], page.next_cursor)


# -- accounting points ---------------------------------------------------------------------------------------
def _master_json(p: AccountingPointRow) -> dict[str, Any]:
    return {
        "id": p.id, "valid_from": _iso(p.valid_from), "grid_area": p.grid_area, "metering_method": p.metering_method,
        "resolution": p.resolution, "main_fuse": p.main_fuse, "tax_category": p.tax_category,
        "attributes": p.attributes, "message": f"in-{p.message_pk}", "received_at": _iso(p.received_at),
    }


def known_points_query() -> Any:
    return union(
        select(col(AccountingPointRow.gsrn).label("gsrn")),
        select(col(SalesAgreementRow.accounting_point).label("gsrn")),
        select(col(ProductAssignmentRow.accounting_point).label("gsrn")),
    ).subquery()


def list_accounting_points(session: Session, *, limit: int, cursor: str | None = None,
                           prefix: str | None = None) -> Page[dict[str, Any]]:
    key = decode_cursor(cursor, 1)
    after = None if key is None else str(key[0])
    points = known_points_query()
    q = select(points.c.gsrn).order_by(points.c.gsrn).limit(limit + 1)
    if after is not None:
        q = q.where(points.c.gsrn > after)
    if prefix:
        q = q.where(points.c.gsrn.startswith(prefix, autoescape=True))
    gsrns = [str(g) for g in session.execute(q).scalars()]
    more = len(gsrns) > limit
    gsrns = gsrns[:limit]
    latest = _latest_master(session, gsrns)
    items = [{"id": g, "gsrn": g, "master_data": _master_json(latest[g]) if g in latest else None} for g in gsrns]
    return Page(items, encode_cursor([gsrns[-1]]) if more and gsrns else None)


def _latest_master(session: Session, gsrns: list[str]) -> dict[str, AccountingPointRow]:
    if not gsrns:
        return {}
    rows = session.execute(
        select(AccountingPointRow).where(col(AccountingPointRow.gsrn).in_(gsrns))
        .order_by(col(AccountingPointRow.valid_from), col(AccountingPointRow.id))
    ).scalars()
    return {r.gsrn: r for r in rows}


def accounting_point(session: Session, gsrn: str) -> dict[str, Any] | None:
    versions = session.execute(
        select(AccountingPointRow).where(col(AccountingPointRow.gsrn) == gsrn)
        .order_by(col(AccountingPointRow.valid_from), col(AccountingPointRow.id))
    ).scalars().all()
    agreements = session.execute(
        select(SalesAgreementRow).where(col(SalesAgreementRow.accounting_point) == gsrn)
        .order_by(col(SalesAgreementRow.id))
    ).scalars().all()
    assignments = session.execute(
        select(ProductAssignmentRow).where(col(ProductAssignmentRow.accounting_point) == gsrn)
        .order_by(col(ProductAssignmentRow.valid_from), col(ProductAssignmentRow.id))
    ).scalars().all()
    if not versions and not agreements and not assignments:
        return None
    span = session.execute(
        select(func.min(col(MeteringSeriesRow.period_start)), func.max(col(MeteringSeriesRow.period_end)),
               func.count()).where(col(MeteringSeriesRow.accounting_point) == gsrn)
    ).one()
    return {
        "id": gsrn, "gsrn": gsrn,
        "master_data": _master_json(versions[-1]) if versions else None,
        "master_data_versions": [_master_json(v) for v in versions],
        "agreements": [agreement_json(a) for a in agreements],
        "assignments": [assignment_json(a) for a in assignments],
        "current_product": current_retail_product(agreements),
        "metering": {"series_versions": int(span[2]), "first": _iso(as_utc(span[0]) if span[0] is not None else None),
                     "last": _iso(as_utc(span[1]) if span[1] is not None else None)},
    }


def as_utc(value: Any) -> datetime:
    """Aggregates bypass the column type on SQLite (text, or naive datetimes)."""
    instant: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def current_retail_product(agreements: Sequence[SalesAgreementRow]) -> str | None:
    """The product of the active agreement that started last (the latest row of each agreement id counts)."""
    latest: dict[str, SalesAgreementRow] = {}
    for row in agreements:
        latest[row.agreement_id or f"row:{row.id}"] = row
    active = [r for r in latest.values() if r.status == "active" and r.product_code and r.start is not None]
    if not active:
        return None
    return max(active, key=lambda r: (r.start, r.id or 0)).product_code


# -- customers ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CustomerView:
    row: CustomerRow

    def to_json(self, *, reveal: bool = False) -> dict[str, Any]:
        c = self.row
        return {
            "id": c.id, "name": c.name, "identification_type": c.identification_type,
            "identification": c.identification if reveal else c.identification_masked,
            "identification_revealed": reveal, "accounting_point": c.accounting_point,
            "attributes": c.attributes, "message": f"in-{c.message_pk}", "received_at": _iso(c.received_at),
        }


def list_customers(session: Session, *, limit: int, cursor: str | None = None,
                   name: str | None = None) -> Page[dict[str, Any]]:
    after = _int_cursor(cursor)
    q = select(CustomerRow).order_by(col(CustomerRow.id)).limit(limit + 1)
    if after is not None:
        q = q.where(col(CustomerRow.id) > after)
    if name:
        q = q.where(func.lower(col(CustomerRow.name)).contains(name.lower(), autoescape=True))
    items = [CustomerView(c).to_json() | {"_key": c.id} for c in session.execute(q).scalars()]
    return _strip(_page_by_id(items, limit))


def customer(session: Session, customer_id: int) -> CustomerView | None:
    row = session.get(CustomerRow, customer_id)
    return None if row is None else CustomerView(row)


# -- agreements ------------------------------------------------------------------------------------------------
def agreement_json(a: SalesAgreementRow) -> dict[str, Any]:
    return {
        "id": a.id, "agreement_id": a.agreement_id, "accounting_point": a.accounting_point,
        "supplier_gln": a.supplier_gln, "start": _iso(a.start), "end": _iso(a.end), "product_code": a.product_code,
        "invoicing_channel": a.invoicing_channel, "e_invoice_address": a.e_invoice_address, "notice": a.notice,
        "status": a.status, "message": f"in-{a.message_pk}",
        "ended_by": f"in-{a.ended_by_message_pk}" if a.ended_by_message_pk else None,
        "received_at": _iso(a.received_at), "attributes": a.attributes,
    }


def list_agreements(session: Session, *, limit: int, cursor: str | None = None, accounting_point: str | None = None,
                    status: str | None = None) -> Page[dict[str, Any]]:
    after = _int_cursor(cursor)
    q = select(SalesAgreementRow).order_by(col(SalesAgreementRow.id)).limit(limit + 1)
    if after is not None:
        q = q.where(col(SalesAgreementRow.id) > after)
    if accounting_point:
        q = q.where(col(SalesAgreementRow.accounting_point) == accounting_point)
    if status:
        q = q.where(col(SalesAgreementRow.status) == status)
    items = [agreement_json(a) | {"_key": a.id} for a in session.execute(q).scalars()]
    return _strip(_page_by_id(items, limit))


def agreement(session: Session, row_id: int) -> dict[str, Any] | None:
    row = session.get(SalesAgreementRow, row_id)
    return None if row is None else agreement_json(row)


# -- metering series -------------------------------------------------------------------------------------------
def series_json(row: MeteringSeriesRow, *, values: bool = False) -> dict[str, Any]:
    micro, quality = unpack(row)
    present = ~np.isin(quality, MISSING_CODES)
    data: dict[str, Any] = {
        "id": row.id, "accounting_point": row.accounting_point, "product": row.product, "unit": row.unit,
        "resolution": row.resolution, "period_start": _iso(row.period_start), "period_end": _iso(row.period_end),
        "version": row.version, "positions": row.positions,
        "total": str(Decimal(int(micro[present].sum())) / _MICRO) if micro.size else "0",
        "estimated": int(np.isin(quality, ESTIMATED_CODES).sum()), "missing": int((~present).sum()),
        "transaction_id": row.transaction_id, "message": f"in-{row.message_pk}", "received_at": _iso(row.received_at),
    }
    if values:
        data["values"] = [None if not ok else str(Decimal(int(v)) / _MICRO) for v, ok in zip(micro, present,
                                                                                               strict=True)]
        data["quality"] = [Quality(int(q)).name.lower() for q in quality]
    return data


def list_series(session: Session, *, limit: int, cursor: str | None = None, accounting_point: str | None = None,
                since: datetime | None = None, until: datetime | None = None) -> Page[dict[str, Any]]:
    """Series versions by period start (then id), all versions of each period."""
    key = decode_cursor(cursor, 2)
    q = select(MeteringSeriesRow).order_by(col(MeteringSeriesRow.period_start), col(MeteringSeriesRow.id))
    if key is not None:
        try:
            at, pk = datetime.fromisoformat(str(key[0])), int(key[1])
        except (TypeError, ValueError):
            raise BadQuery("cursor is not one this service issued") from None
        q = q.where(tuple_(col(MeteringSeriesRow.period_start), col(MeteringSeriesRow.id)) > tuple_(at, pk))
    if accounting_point:
        q = q.where(col(MeteringSeriesRow.accounting_point) == accounting_point)
    if since is not None:
        q = q.where(col(MeteringSeriesRow.period_end) > since)
    if until is not None:
        q = q.where(col(MeteringSeriesRow.period_start) < until)
    rows = session.execute(q.limit(limit + 1)).scalars().all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([rows[-1].period_start.isoformat(), rows[-1].id]) if more and rows else None
    return Page([series_json(r) for r in rows], next_cursor)


def series(session: Session, series_id: int) -> dict[str, Any] | None:
    row = session.get(MeteringSeriesRow, series_id)
    if row is None:
        return None
    versions = session.execute(
        select(MeteringSeriesRow).where(
            col(MeteringSeriesRow.accounting_point) == row.accounting_point,
            col(MeteringSeriesRow.product) == row.product, col(MeteringSeriesRow.resolution) == row.resolution,
            col(MeteringSeriesRow.period_start) == row.period_start,
            col(MeteringSeriesRow.period_end) == row.period_end,
        ).order_by(col(MeteringSeriesRow.version))
    ).scalars().all()
    return series_json(row, values=True) | {"versions": [series_json(v) for v in versions]}


# -- prices ----------------------------------------------------------------------------------------------------
def list_prices(session: Session, *, zone: str, since: datetime, until: datetime, limit: int,
                cursor: str | None = None) -> Page[dict[str, Any]]:
    """The latest version of every price interval of a zone in [since, until), by interval start."""
    key = decode_cursor(cursor, 2)
    slots = select(col(SpotPrice.interval_start), col(SpotPrice.resolution_minutes)).where(
        col(SpotPrice.zone) == zone, col(SpotPrice.interval_start) >= since, col(SpotPrice.interval_start) < until)
    if key is not None:
        try:
            at, minutes = datetime.fromisoformat(str(key[0])), int(key[1])
        except (TypeError, ValueError):
            raise BadQuery("cursor is not one this service issued") from None
        slots = slots.where(
            tuple_(col(SpotPrice.interval_start), col(SpotPrice.resolution_minutes)) > tuple_(at, minutes))
    wanted = session.execute(
        slots.distinct().order_by(col(SpotPrice.interval_start), col(SpotPrice.resolution_minutes)).limit(limit + 1)
    ).all()
    more = len(wanted) > limit
    wanted = wanted[:limit]
    ordered: list[SpotPrice] = []
    if wanted:
        latest: dict[tuple[datetime, int], SpotPrice] = {}
        for row in session.execute(select(SpotPrice).where(
            col(SpotPrice.zone) == zone, col(SpotPrice.interval_start) >= wanted[0][0],
            col(SpotPrice.interval_start) <= wanted[-1][0],
        ).order_by(col(SpotPrice.version))).scalars():
            latest[(row.interval_start, row.resolution_minutes)] = row
        ordered = [latest[(at, minutes)] for at, minutes in wanted if (at, minutes) in latest]
    next_cursor = None
    if more and ordered:
        next_cursor = encode_cursor([ordered[-1].interval_start.isoformat(), ordered[-1].resolution_minutes])
    return Page([{
        "id": r.id, "zone": r.zone, "resolution_minutes": r.resolution_minutes, "start": _iso(r.interval_start),
        "version": r.version, "eur_per_mwh": str(Decimal(r.price_milli_eur_per_mwh).scaleb(-3)),
        "import": f"price-{r.import_id}",
    } for r in ordered], next_cursor)


# -- products and assignments ----------------------------------------------------------------------------------
def _price_row_json(row: PriceRow) -> dict[str, Any]:
    return {
        "energy_eur_per_kwh": {k: str(v) for k, v in row.energy.items()},
        "basic_fee_eur_per_month": None if row.basic_fee_month is None else str(row.basic_fee_month),
        "fuse_fees_eur_per_month": {k: str(v) for k, v in row.fuse_fees.items()},
        "power_fee_eur_per_kw_month": None if row.power_fee_kw_month is None else str(row.power_fee_kw_month),
        "basic_fee_formula": None if row.basic_fee_formula is None else {
            "basis": row.basic_fee_formula.basis, "multiplier": str(row.basic_fee_formula.multiplier)},
    }


def product_json(product: Product, catalogue_version: int) -> dict[str, Any]:
    return {
        "id": product.code, "code": product.code, "name": product.name, "segment": product.segment.value,
        "kind": product.kind, "legal_entity": product.legal_entity, "price_zone": product.price_zone,
        "power_rule": product.power_rule, "catalogue_version": catalogue_version,
        "fixed_share": None if product.fixed_share is None else str(product.fixed_share),
        "prices": [{"valid_from": _iso(d.validity.valid_from), "valid_to": _iso(d.validity.valid_to),
                    **_price_row_json(d.value)} for d in product.prices.rows],
    }


def list_products(session: Session, *, limit: int, cursor: str | None = None,
                  segment: str | None = None) -> Page[dict[str, Any]]:
    try:
        active = active_catalogue(session)
    except RatingInputError:
        return Page([], None)
    key = decode_cursor(cursor, 1)
    codes = sorted(c for c, p in active.catalogue.products.items()
                   if (segment is None or p.segment.value == segment) and (key is None or c > str(key[0])))
    page = codes[:limit]
    return Page([product_json(active.catalogue.products[c], active.version_id) for c in page],
                encode_cursor([page[-1]]) if len(codes) > limit and page else None)


def product(session: Session, code: str) -> dict[str, Any] | None:
    try:
        active = active_catalogue(session)
    except RatingInputError:
        return None
    found = active.catalogue.products.get(code)
    return None if found is None else product_json(found, active.version_id)


def assignment_json(a: ProductAssignmentRow) -> dict[str, Any]:
    return {
        "id": a.id, "accounting_point": a.accounting_point, "product_code": a.product_code, "segment": a.segment,
        "valid_from": _iso(a.valid_from), "valid_to": _iso(a.valid_to), "main_fuse": a.main_fuse,
        "contracted_flow_m3h": a.contracted_flow_m3h, "contracted_power_kw": a.contracted_power_kw,
        "source": a.source, "created_at": _iso(a.created_at),
    }


def list_assignments(session: Session, *, limit: int, cursor: str | None = None,
                     accounting_point: str | None = None) -> Page[dict[str, Any]]:
    after = _int_cursor(cursor)
    q = select(ProductAssignmentRow).order_by(col(ProductAssignmentRow.id)).limit(limit + 1)
    if after is not None:
        q = q.where(col(ProductAssignmentRow.id) > after)
    if accounting_point:
        q = q.where(col(ProductAssignmentRow.accounting_point) == accounting_point)
    items = [assignment_json(a) | {"_key": a.id} for a in session.execute(q).scalars()]
    return _strip(_page_by_id(items, limit))


# -- rating results --------------------------------------------------------------------------------------------
def rating_json(r: RatingResult, *, lines: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": r.id, "accounting_point": r.accounting_point, "period_start": _iso(r.period_start),
        "period_end": _iso(r.period_end), "revision": r.revision, "total": r.total, "delta_total": r.delta_total,
        "cause": r.cause, "catalogue_version": r.catalogue_version_id, "created_at": _iso(r.created_at),
        "line_count": len(r.lines),
    }
    if lines:
        data |= {"lines": r.lines, "delta": r.delta, "inputs": r.inputs}
    return data


def list_ratings(session: Session, *, limit: int, cursor: str | None = None,
                 accounting_point: str | None = None) -> Page[dict[str, Any]]:
    after = _int_cursor(cursor)
    q = select(RatingResult).order_by(col(RatingResult.id).desc()).limit(limit + 1)
    if after is not None:
        q = q.where(col(RatingResult.id) < after)
    if accounting_point:
        q = q.where(col(RatingResult.accounting_point) == accounting_point)
    items = [rating_json(r) | {"_key": r.id} for r in session.execute(q).scalars()]
    return _strip(_page_by_id(items, limit))


def rating(session: Session, rating_id: int) -> dict[str, Any] | None:
    row = session.get(RatingResult, rating_id)
    return None if row is None else rating_json(row, lines=True)
