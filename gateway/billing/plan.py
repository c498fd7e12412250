"""What a month's billing consists of: billing units, their ratings, their customers, and the composed drafts.

A *unit* is one accounting point over the part of the month one customer is responsible for it:
* an agreement unit: a sales agreement's days within the month (its customer gets the retail lines and the
  network lines of those days; a move or a supplier change mid-month makes two units with their own fees
  prorated by days);
* a heat unit: a district-heating product assignment's days within the month (its customer is the
  assignment's ``customer_id``).
Each unit is rated as its own period (``gateway.rating.service``; recorded unless previewing), so a re-rating
of exactly that period is what a correction compares against. Units are grouped into one draft per customer
and entity.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.core.compose import Adjustment, PricedCharge, compose_invoice, consumption_of
from gateway.billing.core.model import Address, Buyer, Consumption, Contract, Seller
from gateway.billing.customers import (
    CustomerData,
    agreement_customer,
    buyer_of,
    buyer_of_data,
    newest_f01_data,
    upsert_customers,
)
from gateway.billing.issuing import BilledUnit, Draft
from gateway.rating.catalogues import ActiveCatalogue
from gateway.rating.core import PeriodHeldError, PricesMissingError
from gateway.rating.core.calendar import first_of_next_month, local_midnight_utc
from gateway.rating.core.catalogue import Catalogue, LegalEntity, Segment
from gateway.rating.core.charges import CatalogueGapError
from gateway.rating.errors import RatingInputError
from gateway.rating.service import latest_rating, line_to_json, local_date, rate_in_session, record_rating
from gateway.store.billing_tables import BilledPeriodRow, BillingAdjustmentRow, BillingCustomerRow
from gateway.store.queries import in_values
from gateway.store.rating_tables import ProductAssignmentRow, RatingResult
from gateway.store.tables import SalesAgreementRow


@dataclass
class Unit:
    accounting_point: str
    period_start: date
    period_end: date  # exclusive
    entities: set[str]
    agreement: SalesAgreementRow | None = None
    assignment: ProductAssignmentRow | None = None
    customer: CustomerData | None = None
    customer_id: int | None = None
    final: bool = False
    contracts: list[Contract] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, date, date]:
        return (self.accounting_point, self.period_start, self.period_end)


@dataclass(frozen=True)
class Hold:
    entity: str | None
    accounting_point: str | None
    period_start: date | None
    period_end: date | None
    reason: str
    customer_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"entity": self.entity, "accounting_point": self.accounting_point, "customer_id": self.customer_id,
                "period_start": self.period_start and self.period_start.isoformat(),
                "last_day": self.period_end and (self.period_end - timedelta(days=1)).isoformat(),
                "reason": self.reason}


@dataclass(frozen=True)
class Rating:
    id: int
    revision: int
    lines: list[dict[str, Any]]


def seller_of(entity: LegalEntity) -> Seller:
    terms = entity.invoicing
    address = entity.address
    assert terms is not None and address is not None and entity.iban and entity.bic and entity.vat_number
    return Seller(
        entity_id=entity.id, name=entity.name, business_id=entity.business_id, vat_number=entity.vat_number,
        address=Address(address.street, address.postcode, address.city, address.country), iban=entity.iban,
        bic=entity.bic, finvoice_address=entity.finvoice_address, finvoice_operator=entity.finvoice_operator,
        phone=entity.phone, email=entity.email, web=entity.web, complaint_text=terms.complaint_text,
        dispute_text=terms.dispute_text, home_town=address.city,
    )


def _latest_agreements(session: Session, first: date, end: date, points: Sequence[str] | None
                       ) -> list[SalesAgreementRow]:
    q = select(SalesAgreementRow).where(col(SalesAgreementRow.start) < local_midnight_utc(end)).order_by(
        col(SalesAgreementRow.id))
    if points is not None:
        q = q.where(col(SalesAgreementRow.accounting_point).in_(list(points)))
    latest: dict[str, SalesAgreementRow] = {}
    for row in session.execute(q).scalars():
        latest[row.agreement_id or f"row:{row.id}"] = row  # an F04 update is a new row; the last one counts
    found = []
    for row in latest.values():
        if row.start is None or row.product_code is None:
            continue
        start = local_date(row.start)
        stop = None if row.end is None else local_date(row.end, ceil=True)
        if start < end and (stop is None or stop > first) and (stop is None or stop > start):
            found.append(row)
    return found


def _assignments(session: Session, first: date, end: date, points: Sequence[str] | None
                 ) -> list[ProductAssignmentRow]:
    q = select(ProductAssignmentRow).where(col(ProductAssignmentRow.valid_from) < end)
    if points is not None:
        q = q.where(col(ProductAssignmentRow.accounting_point).in_(list(points)))
    return [r for r in session.execute(q).scalars() if r.valid_to is None or r.valid_to > first]


def _clip(first: date, end: date, start: date, stop: date | None) -> tuple[date, date] | None:
    a, b = max(first, start), end if stop is None else min(end, stop)
    return (a, b) if a < b else None


def plan_units(
    session: Session, catalogue: Catalogue, month: date, *, entities: set[str],
    points: Sequence[str] | None = None,
) -> tuple[list[Unit], list[Hold]]:
    """The month's billing units for ``entities`` (optionally only some accounting points), and what cannot
    even become a unit (a network point without any agreement, a heat point without a customer)."""
    first, end = month, first_of_next_month(month)
    units: list[Unit] = []
    holds: list[Hold] = []
    assignments = _assignments(session, first, end, points)
    network: dict[str, list[ProductAssignmentRow]] = defaultdict(list)
    for row in assignments:
        if row.segment == Segment.NETWORK.value:
            network[row.accounting_point].append(row)
    covered: set[str] = set()
    for agreement in _latest_agreements(session, first, end, points):
        assert agreement.start is not None and agreement.product_code is not None
        start = local_date(agreement.start)
        stop = None if agreement.end is None else local_date(agreement.end, ceil=True)
        span = _clip(first, end, start, stop)
        product = catalogue.products.get(agreement.product_code)
        if span is None:
            continue
        covered.add(agreement.accounting_point)
        unit = Unit(agreement.accounting_point, span[0], span[1], set(), agreement=agreement,
                    final=stop is not None and stop <= end)
        if product is None:
            holds.append(Hold(None, agreement.accounting_point, span[0], span[1],
                              f"agreement product {agreement.product_code} is not in the catalogue (missing price)"))
            continue
        if product.legal_entity in entities:
            unit.entities.add(product.legal_entity)
        unit.contracts.append(Contract(agreement.accounting_point, product.name, start, stop,
                                       bool(((agreement.attributes or {}).get("agreement") or {}).get("time_limited"))))
        for row in network.get(agreement.accounting_point, []):
            net = catalogue.products.get(row.product_code)
            if net is not None and _clip(span[0], span[1], row.valid_from, row.valid_to):
                if net.legal_entity in entities:
                    unit.entities.add(net.legal_entity)
                unit.contracts.append(Contract(row.accounting_point, net.name, row.valid_from, row.valid_to))
        if unit.entities:
            units.append(unit)
    for point, rows in sorted(network.items()):
        if point in covered:
            continue
        for row in rows:
            net = catalogue.products.get(row.product_code)
            span = _clip(first, end, row.valid_from, row.valid_to)
            if net is not None and net.legal_entity in entities and span:
                holds.append(Hold(net.legal_entity, point, span[0], span[1],
                                  "no agreement: nobody to bill for the network service"))
    for row in assignments:
        if row.segment != Segment.DISTRICT_HEATING.value:
            continue
        heat = catalogue.products.get(row.product_code)
        span = _clip(first, end, row.valid_from, row.valid_to)
        if heat is None or span is None or heat.legal_entity not in entities:
            continue
        if row.customer_id is None:
            holds.append(Hold(heat.legal_entity, row.accounting_point, span[0], span[1],
                              "no customer: assign the heat product with --customer"))
            continue
        units.append(Unit(row.accounting_point, span[0], span[1], {heat.legal_entity}, assignment=row,
                          customer_id=row.customer_id,
                          final=row.valid_to is not None and row.valid_to <= end,
                          contracts=[Contract(row.accounting_point, heat.name, row.valid_from, row.valid_to)]))
    units.sort(key=lambda u: (u.accounting_point, u.period_start))
    return units, holds


def billed_keys(session: Session, month: date, points: Sequence[str] | None = None
                ) -> set[tuple[str, str, int, date]]:
    """(entity, accounting point, customer, period start) already billed in the month."""
    q = select(col(BilledPeriodRow.entity_id), col(BilledPeriodRow.accounting_point),
               col(BilledPeriodRow.customer_id), col(BilledPeriodRow.period_start)).where(
        col(BilledPeriodRow.period_start) >= month, col(BilledPeriodRow.period_start) < first_of_next_month(month))
    if points is not None:
        q = q.where(col(BilledPeriodRow.accounting_point).in_(list(points)))
    return {(e, p, c, s) for e, p, c, s in session.execute(q)}


def recorded_ratings(session: Session, keys: Iterable[tuple[str, date, date]]) -> dict[tuple[str, date, date], Rating]:
    """The latest recorded rating of each (point, start, end), for many periods in few queries.

    Selected by point (one array parameter on PostgreSQL) and the range of the wanted starts, on the
    (point, start) index, and matched to the wanted periods here: a row-value ``IN`` of 500 triples costs more
    to build and bind than the whole read."""
    wanted = set(keys)
    found: dict[tuple[str, date, date], Rating] = {}
    if not wanted:
        return found
    first, last = min(k[1] for k in wanted), max(k[1] for k in wanted)
    points = sorted({k[0] for k in wanted})
    chunk = 5000 if session.get_bind().dialect.name == "postgresql" else 500
    for i in range(0, len(points), chunk):
        rows = session.execute(
            select(col(RatingResult.id), col(RatingResult.accounting_point), col(RatingResult.period_start),
                   col(RatingResult.period_end), col(RatingResult.revision), col(RatingResult.lines))
            .where(in_values(session, col(RatingResult.accounting_point), points[i:i + chunk]),
                   col(RatingResult.period_start) >= first, col(RatingResult.period_start) <= last)
        )
        for rid, point, start, stop, revision, lines in rows:
            key = (point, start, stop)
            if key in wanted and (key not in found or revision > found[key].revision):
                found[key] = Rating(int(rid), int(revision), list(lines))
    return found


def hold_reason(error: Exception) -> str:
    if isinstance(error, PeriodHeldError):
        return f"missing metering data (hold policy): {error}"
    if isinstance(error, PricesMissingError):
        return f"missing spot price: {error}"
    if isinstance(error, CatalogueGapError):
        return f"missing price: {error}"
    return str(error)


RATING_ERRORS = (PeriodHeldError, PricesMissingError, CatalogueGapError, RatingInputError, ValueError, KeyError)


def rate_unit(session: Session, unit: Unit, *, record: bool, cause: str) -> Rating:
    """Rate the unit's period now (recorded as its next revision unless previewing)."""
    rated = rate_in_session(session, unit.accounting_point, unit.period_start, unit.period_end)
    if not record:
        return Rating(0, 0, [line_to_json(ln) for ln in rated.lines])
    row = record_rating(session, rated, cause)
    if row is None:  # another run recorded the same rating meanwhile: bill that one
        row = latest_rating(session, unit.accounting_point, unit.period_start, unit.period_end)
    assert row is not None and row.id is not None
    return Rating(row.id, row.revision, list(row.lines))


@dataclass
class Group:
    """Everything one draft bills: one customer, one entity."""

    entity: LegalEntity
    customer_id: int | None
    buyer: Buyer
    units: list[tuple[Unit, Rating, list[tuple[int, dict[str, Any]]]]] = field(default_factory=list)


def previous_year_consumption(session: Session, units: Sequence[Unit]) -> dict[tuple[str, str], Decimal]:
    """(point, unit) → delivered energy of the same period a year earlier, where that period was rated."""
    keys = []
    for u in units:
        try:
            keys.append((u.accounting_point, u.period_start.replace(year=u.period_start.year - 1),
                         u.period_end.replace(year=u.period_end.year - 1)))
        except ValueError:  # 29 February
            continue
    totals: dict[tuple[str, str], Decimal] = {}
    for rating in recorded_ratings(session, keys).values():
        for key, quantity in consumption_of(rating.lines).items():
            totals[key] = totals.get(key, Decimal(0)) + quantity
    return totals


def pending_adjustments(session: Session, customer_ids: Iterable[int], entity_id: str
                        ) -> dict[int, list[BillingAdjustmentRow]]:
    ids = sorted(set(customer_ids))
    found: dict[int, list[BillingAdjustmentRow]] = defaultdict(list)
    for i in range(0, len(ids), 500):
        for row in session.execute(
            select(BillingAdjustmentRow).where(
                in_values(session, col(BillingAdjustmentRow.customer_id), ids[i:i + 500]),
                col(BillingAdjustmentRow.entity_id) == entity_id, col(BillingAdjustmentRow.status) == "pending",
            ).order_by(col(BillingAdjustmentRow.id))
        ).scalars():
            found[row.customer_id].append(row)
    return found


def compose_group(
    group: Group, active: ActiveCatalogue, *, invoice_date: date, adjustments: Sequence[BillingAdjustmentRow],
    previous: dict[tuple[str, str], Decimal], reason: str | None = None,
) -> Draft:
    catalogue = active.catalogue
    entity = group.entity
    terms = entity.invoicing
    assert terms is not None
    charges: list[PricedCharge] = []
    billed: list[BilledUnit] = []
    contracts: list[Contract] = []
    delivered: dict[tuple[str, str], Decimal] = {}
    for unit, rating, lines in group.units:
        for index, data in lines:
            product = catalogue.products.get(data["product_code"])
            charges.append(PricedCharge(data, rating.id, rating.revision, index,
                                        product.name if product else data["product_code"],
                                        str(product.segment) if product else ""))
        for key, quantity in consumption_of(d for _, d in lines).items():
            delivered[key] = delivered.get(key, Decimal(0)) + quantity
        billed.append(BilledUnit(unit.accounting_point, unit.period_start, unit.period_end, rating.id,
                                 rating.revision))
        names = {catalogue.products[d["product_code"]].name for _, d in lines if d["product_code"] in
                 catalogue.products}
        contracts += [k for k in unit.contracts if k.product in names]  # this entity's products only
    consumption = [Consumption(point, unit_name, quantity, previous.get((point, unit_name)))
                   for (point, unit_name), quantity in sorted(delivered.items())]
    buyer = group.buyer
    doc = compose_invoice(
        seller=seller_of(entity), buyer=buyer,
        period_start=min(u.period_start for u, _, _ in group.units),
        period_end=max(u.period_end for u, _, _ in group.units),
        charges=charges,
        adjustments=[Adjustment(a.id or 0, a.kind, Decimal(a.amount), Decimal(a.vat_rate), a.description)
                     for a in adjustments],
        invoice_date=invoice_date, consumption=consumption, contracts=list(dict.fromkeys(contracts)),
        reference_scheme=terms.reference_scheme, payment_term_days=terms.payment_term_days,
        vat_on_net_credit=catalogue.vat_on_net_credit, final=any(u.final for u, _, _ in group.units), reason=reason,
    )
    return Draft(entity=entity, doc=doc, customer_id=group.customer_id or 0, billed=billed,
                 adjustment_ids=[a.id for a in adjustments if a.id is not None],
                 label=buyer.name)


def resolve_customers(session: Session, units: Sequence[Unit], active: ActiveCatalogue, *, store: bool
                      ) -> dict[int, tuple[int | None, Buyer | None]]:
    """Each unit's (by ``id(unit)``) customer id — None when previewing a customer not stored yet — and buyer
    (None: nobody to bill), read and stored for all units in a few statements."""
    found: dict[int, tuple[int | None, Buyer | None]] = {}
    heat_ids = sorted({u.customer_id for u in units if u.customer_id is not None})
    heat = {r.id: r for r in session.execute(
        select(BillingCustomerRow).where(col(BillingCustomerRow.id).in_(heat_ids))).scalars()} if heat_ids else {}
    f01 = newest_f01_data(session, [u.agreement.customer_key for u in units
                                    if u.agreement is not None and u.agreement.customer_key])
    data: dict[int, CustomerData | None] = {}
    for unit in units:
        if unit.customer_id is not None:
            row = heat.get(unit.customer_id)
            found[id(unit)] = (None, None) if row is None else (row.id, buyer_of(row))
        else:
            assert unit.agreement is not None
            data[id(unit)] = agreement_customer(session, unit.agreement, active.catalogue.invoicing, f01)
    known = [d for d in data.values() if d is not None]
    if store:
        rows = upsert_customers(session, known)
    else:
        rows = {}
        keys = sorted({d.key for d in known})
        for i in range(0, len(keys), 500):
            for row in session.execute(select(BillingCustomerRow).where(
                    in_values(session, col(BillingCustomerRow.customer_key), keys[i:i + 500]))).scalars():
                rows[row.customer_key] = row
    for unit_id, d in data.items():
        if d is None:
            found[unit_id] = (None, None)
        elif store:
            found[unit_id] = (rows[d.key].id, buyer_of(rows[d.key]))
        else:
            existing = rows.get(d.key)
            found[unit_id] = (existing.id if existing else None, buyer_of_data(d, existing.id if existing else None))
    return found


def resolve_customer(session: Session, unit: Unit, active: ActiveCatalogue, *, store: bool
                     ) -> tuple[int | None, Buyer | None]:
    """``resolve_customers`` of one unit."""
    return resolve_customers(session, [unit], active, store=store)[id(unit)]
