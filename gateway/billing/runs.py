"""`gateway bill`: a month's billing run for one or every legal entity.

Steps, each in short transactions so that a run killed at any moment leaves only whole invoices behind:
1. plan the month's billing units (``gateway.billing.plan``) and drop those already billed;
2. rate (and record) every unit's period that has no recorded rating yet — a period never rated is rated now;
   a unit that cannot be rated is held with the reason (missing data under the ``hold`` policy, a missing
   price, no agreement);
3. bring the customers up to date and hold a customer without an address;
4. compose one draft per customer and entity, with the customer's pending adjustments;
5. issue the drafts in batches: one transaction per batch draws the numbers, stores the invoices and releases
   them (``gateway.billing.issuing``). When another run got to a period first, the batch is rolled back whole
   and its drafts are issued one by one, so the other run's invoice stands and nothing is billed twice.

Running again creates nothing: every billed (entity, point, customer, period) is in ``billed_period``.
``dry_run`` goes through the same steps (rating without recording, the Finvoice built and validated with a
placeholder number) and stores nothing.
"""

from __future__ import annotations

import gc
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.billing.core.compose import issue
from gateway.billing.core.finvoice import FinvoiceInvalid, validated_finvoice
from gateway.billing.core.numbers import NumberSeries
from gateway.billing.errors import BillingInputError
from gateway.billing.issuing import AdjustmentsTaken, Draft, Issued, issue_drafts
from gateway.billing.plan import (
    RATING_ERRORS,
    Group,
    Hold,
    Rating,
    Unit,
    billed_keys,
    compose_group,
    hold_reason,
    pending_adjustments,
    plan_units,
    previous_year_consumption,
    rate_unit,
    recorded_ratings,
    resolve_customers,
)
from gateway.rating.catalogues import ActiveCatalogue, active_catalogue
from gateway.rating.core.calendar import HELSINKI
from gateway.rating.core.catalogue import LegalEntity
from gateway.store.billing_tables import BillingRunRow, InvoiceSeriesRow
from outbox.types import utcnow

log = logging.getLogger("gateway.billing")
# Invoices per issuing transaction. Each batch costs a series lock, about ten statements and a durable commit
# (with SQLite's synchronous=FULL a WAL fsync and often a checkpoint): at 100 that was a tenth of the run's time.
# The series lock is held while the batch's Finvoices are built and validated (under a second at 500).
BATCH_SIZE = 500
Progress = Callable[[int, int], None]


@dataclass
class RunReport:
    period: str
    entity: str | None
    dry_run: bool
    run_id: int | None = None
    invoiced: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    already_billed: int = 0
    rated: int = 0

    def to_json(self) -> dict[str, Any]:
        totals: dict[str, Decimal] = defaultdict(Decimal)
        counts: dict[str, int] = defaultdict(int)
        for item in self.invoiced:
            totals[item["entity"]] += Decimal(item["total"])
            counts[item["entity"]] += 1
        return {
            "period": self.period, "entity": self.entity, "dry_run": self.dry_run, "run_id": self.run_id,
            "summary": {e: {"invoices": counts[e], "total": str(totals[e])} for e in sorted(counts)},
            "rated_now": self.rated, "already_billed": self.already_billed,
            "invoiced": self.invoiced, "held": self.held,
        }


def parse_period(text: str) -> date:
    try:
        year, month = text.split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise BillingInputError(f"--period {text!r} is not a month YYYY-MM") from None


def today_in_helsinki() -> date:
    return datetime.now(HELSINKI).date()


def _entities(active: ActiveCatalogue, entity: str | None, report: RunReport) -> dict[str, LegalEntity]:
    entities = active.catalogue.entities
    if entity is not None:
        if entity not in entities:
            raise BillingInputError(f"legal entity {entity!r} is not in the catalogue ({', '.join(sorted(entities))})")
        missing = entities[entity].missing_for_invoicing()
        if missing:
            raise BillingInputError(f"legal entity {entity} cannot invoice: the catalogue lacks {', '.join(missing)}")
        return {entity: entities[entity]}
    chosen = {}
    for e in entities.values():
        missing = e.missing_for_invoicing()
        if missing:
            report.held.append(Hold(e.id, None, None, None, f"entity cannot invoice: the catalogue lacks "
                                                            f"{', '.join(missing)}").to_json())
        else:
            chosen[e.id] = e
    return chosen


def _report_item(issued: Issued, draft: Draft, dry_run: bool) -> dict[str, Any]:
    doc = draft.doc
    return {
        "entity": draft.entity.id, "kind": doc.kind.value, "number": None if dry_run else issued.number,
        "invoice_id": None if dry_run else issued.invoice_id, "customer_id": draft.customer_id or None,
        "customer": draft.label, "total": str(doc.total), "total_excl_vat": str(doc.total_excl_vat),
        "due_date": issued.due_date.isoformat(), "reference": None if dry_run else issued.reference,
        "accounting_points": sorted({u.accounting_point for u in draft.billed}), "lines": len(doc.lines),
        "final": doc.final,
    }


def _preview(session: Session, entity: LegalEntity, drafts: Sequence[Draft]
             ) -> tuple[list[Issued], list[tuple[Draft, str]]]:
    """The drafts as they would be issued (Finvoice built and validated), numbered with placeholders."""
    terms = entity.invoicing
    assert terms is not None
    series = session.get(InvoiceSeriesRow, entity.id)
    start = series.next_sequence if series is not None else 1
    numbers = NumberSeries(terms.number_prefix, terms.number_width)
    previews, refused = [], []
    for i, draft in enumerate(drafts):
        doc = issue(draft.doc, numbers.number(start + i), sending_date=draft.doc.invoice_date)
        try:
            validated_finvoice(doc)
        except FinvoiceInvalid as error:
            refused.append((draft, str(error)))
            continue
        assert doc.due_date is not None and doc.number is not None
        previews.append(Issued(0, entity.id, doc.kind.value, doc.number, draft.customer_id, doc.total, doc.due_date,
                               doc.payment_reference or "", draft.label))
    return previews, refused


def _issue_batch(engine: Engine, entity: LegalEntity, drafts: Sequence[Draft], run_id: int | None,
                 report: RunReport) -> list[tuple[Issued, Draft]]:
    """Issue a batch in one transaction; after a lost race (or adjustments taken meanwhile), one by one."""
    def attempt(batch: Sequence[Draft]) -> list[tuple[Issued, Draft]]:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            issued, refused = issue_drafts(session, entity, batch, run_id=run_id)
        for draft, reason in refused:
            for unit in draft.billed:
                report.held.append(Hold(entity.id, unit.accounting_point, unit.period_start, unit.period_end,
                                        f"not issued: {reason}", draft.customer_id).to_json())
        refused_ids = {id(d) for d, _ in refused}
        return list(zip(issued, [d for d in batch if id(d) not in refused_ids], strict=True))

    try:
        return attempt(drafts)
    except (IntegrityError, AdjustmentsTaken):
        log.info("a concurrent run billed part of a batch of %s first; issuing it one by one", entity.id)
    done: list[tuple[Issued, Draft]] = []
    for draft in drafts:
        try:
            done += attempt([draft])
        except IntegrityError:
            report.already_billed += len(draft.billed)  # a concurrent run billed it first
        except AdjustmentsTaken:
            report.held.append(Hold(entity.id, None, None, None, "the customer's pending adjustments changed "
                                    "while billing; run again", draft.customer_id).to_json())
    return done


def bill(
    engine: Engine,
    month: date,
    *,
    entity: str | None = None,
    dry_run: bool = False,
    invoice_date: date | None = None,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    points: Sequence[str] | None = None,
) -> RunReport:
    """Bill ``month`` (its first day) for ``entity`` or every invoicing entity; see the module docstring."""
    month = date(month.year, month.month, 1)
    report = RunReport(period=f"{month:%Y-%m}", entity=entity, dry_run=dry_run)
    invoice_date = invoice_date or today_in_helsinki()
    with Session(engine) as session:
        active = active_catalogue(session)
        entities = _entities(active, entity, report)
        units, holds = plan_units(session, active.catalogue, month, entities=set(entities), points=points)
        billed = billed_keys(session, month, points)
        ratings = recorded_ratings(session, [u.key for u in units])
    report.held += [h.to_json() for h in holds]
    if not dry_run:
        with Session(engine) as session, session.begin():
            run = BillingRunRow(period=report.period, entity_id=entity, dry_run=False, status="running",
                                started_at=utcnow())
            session.add(run)
            session.flush()
            report.run_id = run.id
    try:
        groups = _groups(engine, active, entities, units, billed, ratings, report, dry_run)
        # The plan (agreements, ratings, customers, groups) lives until the run ends: frozen out of the cyclic
        # collector, a full collection while issuing scans only what issuing made, not the whole month again
        # (at 10,000 customers a dozen collections of half a million objects each otherwise).
        gc.freeze()
        try:
            _issue_groups(engine, active, groups, report, dry_run=dry_run, invoice_date=invoice_date,
                          progress=progress, batch_size=batch_size)
        finally:
            gc.unfreeze()
    except BaseException:
        _finish(engine, report, "failed")
        raise
    _finish(engine, report, "completed")
    return report


def _finish(engine: Engine, report: RunReport, status: str) -> None:
    if report.run_id is None:
        return
    with Session(engine) as session, session.begin():
        run = session.get(BillingRunRow, report.run_id)
        if run is not None:
            run.status, run.finished_at, run.report = status, utcnow(), report.to_json()


def _groups(
    engine: Engine, active: ActiveCatalogue, entities: dict[str, LegalEntity], units: list[Unit],
    billed: set[tuple[str, str, int, date]], ratings: dict[tuple[str, date, date], Rating], report: RunReport,
    dry_run: bool,
) -> dict[tuple[str, str], Group]:
    groups: dict[tuple[str, str], Group] = {}
    with Session(engine, expire_on_commit=False) as session, session.begin():
        customers = resolve_customers(session, units, active, store=not dry_run)
    for unit in units:
        customer_id, buyer = customers[id(unit)]
        todo = {e for e in unit.entities
                if customer_id is None or (e, unit.accounting_point, customer_id, unit.period_start) not in billed}
        report.already_billed += len(unit.entities) - len(todo)
        if not todo:
            continue
        hold = _customer_problem(buyer)
        if hold is not None:
            for e in sorted(todo):
                report.held.append(Hold(e, unit.accounting_point, unit.period_start, unit.period_end, hold,
                                        customer_id).to_json())
            continue
        assert buyer is not None
        rating = ratings.get(unit.key)
        if rating is None:
            try:
                with Session(engine, expire_on_commit=False) as session, session.begin():
                    rating = rate_unit(session, unit, record=not dry_run, cause=f"billing run {report.period}")
                report.rated += 1
            except IntegrityError:  # a concurrent run recorded this period's rating first: use that one
                with Session(engine) as session:
                    rating = recorded_ratings(session, [unit.key])[unit.key]
            except RATING_ERRORS as error:
                for e in sorted(todo):
                    report.held.append(Hold(e, unit.accounting_point, unit.period_start, unit.period_end,
                                            hold_reason(error), customer_id).to_json())
                continue
        for e in sorted(todo):
            lines = [(i, d) for i, d in enumerate(rating.lines) if d["legal_entity"] == e]
            if not lines:
                continue
            key = (e, f"id:{customer_id}" if customer_id is not None else f"name:{buyer.name}:{buyer.address}")
            group = groups.setdefault(key, Group(entities[e], customer_id, buyer))
            group.units.append((unit, rating, lines))
    return groups


def _customer_problem(buyer: Any) -> str | None:
    if buyer is None:
        return "no customer: the agreement names no customer"
    if not buyer.address.complete:
        return "customer has no address (street, postcode and city are needed)"
    return None


def _issue_groups(
    engine: Engine, active: ActiveCatalogue, groups: dict[tuple[str, str], Group], report: RunReport, *,
    dry_run: bool, invoice_date: date, progress: Progress | None, batch_size: int,
) -> None:
    total = len(groups)
    done = 0
    by_entity: dict[str, list[Group]] = defaultdict(list)
    for (entity_id, _), group in groups.items():
        by_entity[entity_id].append(group)
    for entity_id in sorted(by_entity):
        entity_groups = by_entity[entity_id]
        entity = entity_groups[0].entity
        with Session(engine) as session:
            adjustments = pending_adjustments(session, [g.customer_id for g in entity_groups if g.customer_id],
                                              entity_id)
            previous = previous_year_consumption(session, [u for g in entity_groups for u, _, _ in g.units])
        for start in range(0, len(entity_groups), batch_size):
            chunk = entity_groups[start:start + batch_size]
            drafts = [compose_group(g, active, invoice_date=invoice_date,
                                    adjustments=adjustments.get(g.customer_id or -1, []), previous=previous)
                      for g in chunk]
            if dry_run:
                with Session(engine) as session:
                    previews, refused = _preview(session, entity, drafts)
                refused_ids = {id(d) for d, _ in refused}
                pairs = list(zip(previews, [d for d in drafts if id(d) not in refused_ids], strict=True))
                for draft, reason in refused:
                    report.held.append(Hold(entity_id, None, None, None, f"not issued: {reason}",
                                            draft.customer_id).to_json())
            else:
                pairs = _issue_batch(engine, entity, drafts, report.run_id, report)
            report.invoiced += [_report_item(issued, draft, dry_run) for issued, draft in pairs]
            done += len(chunk)
            if progress is not None:
                progress(done, total)
