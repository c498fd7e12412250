"""Final invoices: an F06 end notice (``masterdata.agreement`` with ``"event": "ended"``) schedules the final
invoice of the agreement's last month, and the scheduled message issues it.

The end notice usually arrives before the supply ends (a supplier switch is notified 14 days ahead), so the
consumer enqueues ``billing.final_invoice`` to become due ``final_invoice_delay_days`` after the end (catalogue
``[invoicing]``, 0–42 days). Its handler bills, in the worker's transaction, the agreement's days of that month
as a final invoice to the agreement's customer (retail, and the network service of the same days). When the
period cannot be billed yet (metering data still missing under the ``hold`` policy, say), it schedules itself
again a day later, up to six weeks after the end; after that it fails with the reason and the outbox keeps it
as a dead letter for an operator. A period a monthly run billed already is not billed again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from gateway.billing.errors import BillingInputError
from gateway.billing.issuing import Issued, issue_drafts
from gateway.billing.plan import (
    RATING_ERRORS,
    Group,
    billed_keys,
    compose_group,
    hold_reason,
    pending_adjustments,
    plan_units,
    previous_year_consumption,
    rate_unit,
    recorded_ratings,
    resolve_customer,
)
from gateway.billing.runs import today_in_helsinki
from gateway.events import AGREEMENT_CHANGED, FINAL_INVOICE_DUE
from gateway.rating.catalogues import active_catalogue
from gateway.rating.service import local_date
from outbox import OutboxMessage
from outbox.types import utcnow

log = logging.getLogger("gateway.billing")
DEADLINE = timedelta(weeks=6)
RETRY_AFTER = timedelta(days=1)


class FinalInvoiceHeld(RuntimeError):
    """The final invoice could not be issued within six weeks of the end of supply."""


def on_agreement_event(session: Session, message: OutboxMessage) -> None:
    """Consumer of ``masterdata.agreement``: an ended agreement schedules its final invoice."""
    payload = AGREEMENT_CHANGED.payload(message)
    point, ended_at = payload.get("accounting_point"), payload.get("end")
    if payload.get("event") != "ended" or not point or not ended_at:
        return
    end = datetime.fromisoformat(ended_at)
    delay = active_catalogue(session).catalogue.invoicing.final_invoice_delay_days
    FINAL_INVOICE_DUE.emit(
        session, {"accounting_point": point, "agreement_id": payload.get("agreement_id"), "end": ended_at,
                  "reason": payload.get("reason")},
        key=f"final:{point}", not_before=max(end + timedelta(days=delay), utcnow()))


def issue_final_invoice(session: Session, accounting_point: str, agreement_id: str | None, end: datetime,
                        *, invoice_date: date | None = None) -> tuple[list[Issued], list[str]]:
    """Bill the ended agreement's last month of supply as final invoices; (issued, reasons it is held)."""
    active = active_catalogue(session)
    catalogue = active.catalogue
    last_day = local_date(end, ceil=True) - timedelta(days=1)
    month = date(last_day.year, last_day.month, 1)
    entities = {e.id for e in catalogue.entities.values() if not e.missing_for_invoicing()}
    units, holds = plan_units(session, catalogue, month, entities=entities, points=[accounting_point])
    units = [u for u in units if u.final and u.agreement is not None
             and (agreement_id is None or u.agreement.agreement_id == agreement_id)]
    if not units:
        raise BillingInputError(f"no ended agreement of {accounting_point} ends on {last_day} ({agreement_id})")
    billed = billed_keys(session, month, [accounting_point])
    ratings = recorded_ratings(session, [u.key for u in units])
    reasons = [h.reason for h in holds]
    groups: dict[tuple[str, int], Group] = {}
    for unit in units:
        customer_id, buyer = resolve_customer(session, unit, active, store=True)
        if customer_id is None or buyer is None or not buyer.address.complete:
            reasons.append("no customer with an address for the final invoice")
            continue
        todo = [e for e in sorted(unit.entities) if (e, unit.accounting_point, customer_id, unit.period_start)
                not in billed]
        if not todo:
            continue
        rating = ratings.get(unit.key)
        if rating is None:
            try:
                with session.begin_nested():
                    rating = rate_unit(session, unit, record=True, cause=f"final invoice {accounting_point}")
            except RATING_ERRORS as error:
                reasons.append(hold_reason(error))
                continue
        for e in todo:
            lines = [(i, d) for i, d in enumerate(rating.lines) if d["legal_entity"] == e]
            if lines:
                group = groups.setdefault((e, customer_id), Group(catalogue.entities[e], customer_id, buyer))
                group.units.append((unit, rating, lines))
    issued: list[Issued] = []
    by_entity: dict[str, list[Group]] = defaultdict(list)
    for (e, _), group in groups.items():
        by_entity[e].append(group)
    for e, entity_groups in sorted(by_entity.items()):
        adjustments = pending_adjustments(session, [g.customer_id for g in entity_groups if g.customer_id], e)
        previous = previous_year_consumption(session, [u for g in entity_groups for u, _, _ in g.units])
        drafts = [compose_group(g, active, invoice_date=invoice_date or today_in_helsinki(),
                                adjustments=adjustments.get(g.customer_id or -1, []), previous=previous,
                                reason=f"Loppulasku: sopimus päättynyt {last_day:%d.%m.%Y} / final invoice: "
                                       f"the agreement ended on {last_day:%d.%m.%Y}")
                  for g in entity_groups]
        done, refused = issue_drafts(session, catalogue.entities[e], drafts)
        issued += done
        reasons += [reason for _, reason in refused]
    return issued, reasons


def on_final_invoice(session: Session, message: OutboxMessage) -> None:
    """Handler of the scheduled ``billing.final_invoice``."""
    payload = FINAL_INVOICE_DUE.payload(message)
    end = datetime.fromisoformat(payload["end"])
    with session.begin_nested() as attempt:
        issued, reasons = issue_final_invoice(session, payload["accounting_point"], payload.get("agreement_id"), end)
        if reasons and not issued:
            attempt.rollback()
    if issued:
        log.info("final invoice(s) %s for %s", ", ".join(i.number for i in issued), payload["accounting_point"])
        return
    if not reasons:
        return  # billed already (by a monthly run)
    if utcnow() + RETRY_AFTER > end + DEADLINE:
        raise FinalInvoiceHeld(f"final invoice of {payload['accounting_point']} not issued within six weeks of "
                               f"{end.date()}: {'; '.join(reasons)}")
    FINAL_INVOICE_DUE.emit(session, payload, key=f"final:{payload['accounting_point']}",
                           not_before=utcnow() + RETRY_AFTER)
