"""Corrections of billed periods, done by the ``rating.revised`` consumer at the moment re-rating changes them.

For each (entity, customer) that was billed for the re-rated period (``billed_period``), the difference
between the period's latest rating and what the customer has been billed for it so far (the invoice lines
not credited yet, plus correction deltas carried to later invoices) is settled:
* a difference smaller than the entity's ``correction_threshold_eur`` becomes a ``carried_delta`` adjustment
  per VAT rate, billed on the customer's next invoice;
* otherwise a credit note (``INV02`` naming the original invoice) credits the billed lines and a corrected
  invoice bills the latest rating; deltas carried earlier and already invoiced are subtracted on it, pending
  ones are superseded. The credit note and the corrected invoice together differ by exactly the delta.
Both documents carry the reason: which message (or price import) caused the re-rating. A stale or repeated
event finds the billed revision up to date and does nothing; a later billing run finds the period billed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.core.compose import PricedCharge, compose_credit_note, compose_invoice, consumption_of
from gateway.billing.core.model import Consumption, Line
from gateway.billing.core.serialize import document_from_json
from gateway.billing.customers import buyer_of
from gateway.billing.issuing import Draft, issue_drafts
from gateway.billing.plan import seller_of
from gateway.billing.runs import today_in_helsinki
from gateway.rating.catalogues import active_catalogue
from gateway.rating.core.catalogue import LegalEntity
from gateway.rating.service import latest_rating
from gateway.store.billing_tables import (
    BilledPeriodRow,
    BillingAdjustmentRow,
    BillingCustomerRow,
    InvoiceLineRow,
    InvoiceRow,
)
from gateway.store.rating_tables import RatingResult, SpotPriceImport
from gateway.store.tables import MessageRecord, MeteringSeriesRow
from outbox import OutboxMessage
from outbox.types import utcnow

log = logging.getLogger("gateway.billing")


def explain_revision(session: Session, before: RatingResult | None, after: RatingResult) -> str:
    """What changed between two ratings of a period, naming the messages and price imports behind it."""
    reasons: list[str] = []
    old = {(int(sid), int(version)) for sid, version in (before.inputs.get("metering", []) if before else [])}
    new_series = [int(sid) for sid, version in after.inputs.get("metering", []) if (int(sid), int(version)) not in old]
    if new_series:
        rows = session.execute(
            select(col(MeteringSeriesRow.message_pk)).where(col(MeteringSeriesRow.id).in_(new_series))
        ).scalars().all()
        pks = sorted({pk for pk in rows if pk})
        messages = {m.id: m for m in session.execute(
            select(MessageRecord).where(col(MessageRecord.id).in_(pks))).scalars()} if pks else {}
        for pk in pks:
            m = messages.get(pk)
            if m is not None:
                reasons.append(f"metering correction: {m.document_type or 'E66'} message {m.message_id} from "
                               f"{m.sender_gln} (received {m.received_at:%Y-%m-%d %H:%M} UTC)")
        if any(not pk for pk in rows):
            reasons.append("metering correction: heat readings imported from a file")
    old_import = before.inputs.get("price_import") if before else None
    new_import = after.inputs.get("price_import")
    if new_import is not None and new_import != old_import:
        imported = session.get(SpotPriceImport, new_import)
        if imported is not None:
            reasons.append(f"spot price correction: price import {imported.id} ({imported.source}, "
                           f"{imported.imported_at:%Y-%m-%d})")
    if before is not None and after.catalogue_version_id != before.catalogue_version_id:
        reasons.append(f"catalogue version {after.catalogue_version_id}")
    if not reasons:
        reasons.append(f"re-rating ({after.cause})")
    return "; ".join(reasons)


def _line_of(row: InvoiceLineRow) -> Line:
    return Line(
        description=row.description, amount=Decimal(row.amount), vat_rate=Decimal(row.vat_rate),
        quantity=None if row.quantity is None else Decimal(row.quantity), unit=row.unit,
        unit_price=None if row.unit_price is None else Decimal(row.unit_price),
        accounting_point=row.accounting_point, product_code=row.product_code, component=row.component,
        period_start=row.period_start, period_end=row.period_end, vat_kind=row.vat_kind, tax_class=row.tax_class,
        flags=tuple(row.flags or ()),
        source={"rating_result_id": row.rating_result_id, "revision": row.rating_revision,
                "line_index": row.priced_line_index},
    )


def _billed_lines(session: Session, billed: BilledPeriodRow, rating_ids: list[int]) -> list[InvoiceLineRow]:
    """Lines on the entity's invoices to this customer that bill the period and are not credited yet."""
    lines = session.execute(
        select(InvoiceLineRow).join(InvoiceRow, col(InvoiceRow.id) == col(InvoiceLineRow.invoice_id)).where(
            col(InvoiceRow.entity_id) == billed.entity_id, col(InvoiceRow.customer_id) == billed.customer_id,
            col(InvoiceRow.kind) == "invoice", col(InvoiceLineRow.rating_result_id).in_(rating_ids),
        ).order_by(col(InvoiceLineRow.id))
    ).scalars().all()
    if not lines:
        return []
    credited = set(session.execute(
        select(col(InvoiceLineRow.credits_line_id)).where(
            col(InvoiceLineRow.credits_line_id).in_([ln.id for ln in lines]))
    ).scalars())
    return [ln for ln in lines if ln.id not in credited]


def _carried(session: Session, billed: BilledPeriodRow) -> list[BillingAdjustmentRow]:
    return list(session.execute(
        select(BillingAdjustmentRow).where(
            col(BillingAdjustmentRow.customer_id) == billed.customer_id,
            col(BillingAdjustmentRow.entity_id) == billed.entity_id,
            col(BillingAdjustmentRow.kind) == "carried_delta",
            col(BillingAdjustmentRow.accounting_point) == billed.accounting_point,
            col(BillingAdjustmentRow.period_start) == billed.period_start,
            col(BillingAdjustmentRow.period_end) == billed.period_end,
            col(BillingAdjustmentRow.status).in_(["pending", "consumed"]),
        )
    ).scalars())


def _by_rate(pairs: list[tuple[Decimal, Decimal]]) -> dict[Decimal, Decimal]:
    totals: dict[Decimal, Decimal] = defaultdict(Decimal)
    for rate, amount in pairs:
        totals[rate] += amount
    return dict(totals)


def correct_billed_period(session: Session, accounting_point: str, period_start: date, period_end: date,
                          *, invoice_date: date | None = None) -> list[dict[str, Any]]:
    """Settle every billed (entity, customer) of the period against its latest rating; what was done."""
    rows = session.execute(
        select(BilledPeriodRow).where(
            col(BilledPeriodRow.accounting_point) == accounting_point,
            col(BilledPeriodRow.period_start) == period_start, col(BilledPeriodRow.period_end) == period_end,
        ).order_by(col(BilledPeriodRow.id))
    ).scalars().all()
    latest = latest_rating(session, accounting_point, period_start, period_end)
    if not rows or latest is None or latest.id is None:
        return []
    active = active_catalogue(session)
    rating_ids = [int(i or 0) for i in session.execute(
        select(col(RatingResult.id)).where(
            col(RatingResult.accounting_point) == accounting_point, col(RatingResult.period_start) == period_start,
            col(RatingResult.period_end) == period_end)
    ).scalars()]
    done: list[dict[str, Any]] = []
    for billed in rows:
        if billed.rating_revision >= latest.revision:
            continue  # already settled (a repeated or stale event)
        entity = active.catalogue.entities.get(billed.entity_id)
        if entity is None or entity.invoicing is None:
            raise ValueError(f"billed entity {billed.entity_id} cannot invoice any more")
        before = session.execute(select(RatingResult).where(
            col(RatingResult.accounting_point) == accounting_point, col(RatingResult.period_start) == period_start,
            col(RatingResult.period_end) == period_end, col(RatingResult.revision) == billed.rating_revision,
        )).scalar_one_or_none()
        reason = explain_revision(session, before, latest)
        done.append(_settle(session, billed, latest, rating_ids, entity, active.catalogue, reason,
                            invoice_date or today_in_helsinki()))
    return done


def _settle(session: Session, billed: BilledPeriodRow, latest: RatingResult, rating_ids: list[int],
            entity: LegalEntity, catalogue: Any, reason: str, invoice_date: date) -> dict[str, Any]:
    assert entity.invoicing is not None and latest.id is not None
    target = [(i, d) for i, d in enumerate(latest.lines) if d["legal_entity"] == entity.id]
    lines = _billed_lines(session, billed, rating_ids)
    carried = _carried(session, billed)
    have = _by_rate([(Decimal(ln.vat_rate), Decimal(ln.amount)) for ln in lines]
                    + [(Decimal(a.vat_rate), Decimal(a.amount)) for a in carried])
    want = _by_rate([(Decimal(d["vat_rate"]), Decimal(d["amount"])) for _, d in target])
    delta = {rate: want.get(rate, Decimal(0)) - have.get(rate, Decimal(0)) for rate in set(have) | set(want)}
    delta_total = sum(delta.values(), Decimal("0.00"))
    now = utcnow()
    outcome: dict[str, Any] = {"entity": entity.id, "customer_id": billed.customer_id,
                               "accounting_point": billed.accounting_point, "revision": latest.revision,
                               "delta": str(delta_total), "reason": reason}
    period = f"{billed.period_start:%m/%Y}"
    if all(v == 0 for v in delta.values()):
        outcome["action"] = "nothing to correct"
    elif abs(delta_total) < entity.invoicing.correction_threshold:
        for rate, amount in sorted(delta.items()):
            if amount:
                session.add(BillingAdjustmentRow(
                    customer_id=billed.customer_id, entity_id=entity.id, kind="carried_delta", amount=str(amount),
                    vat_rate=str(rate), description=f"{period} {billed.accounting_point}"[:200],
                    source=f"{reason}"[:300], accounting_point=billed.accounting_point,
                    period_start=billed.period_start, period_end=billed.period_end, rating_result_id=latest.id,
                    rating_revision=latest.revision, status="pending", created_at=now))
        outcome["action"] = "carried to the next invoice"
    else:
        outcome.update(_credit_and_rebill(session, billed, latest, target, lines, carried, entity, catalogue,
                                          reason, invoice_date))
    billed.rating_result_id, billed.rating_revision, billed.updated_at = latest.id, latest.revision, now
    session.flush()
    log.info("correction of %s %s for customer %s: %s", billed.accounting_point, period, billed.customer_id, outcome)
    return outcome


def _credit_and_rebill(session: Session, billed: BilledPeriodRow, latest: RatingResult,
                       target: list[tuple[int, dict[str, Any]]], lines: list[InvoiceLineRow],
                       carried: list[BillingAdjustmentRow], entity: LegalEntity, catalogue: Any, reason: str,
                       invoice_date: date) -> dict[str, Any]:
    assert latest.id is not None and entity.invoicing is not None
    customer = session.get(BillingCustomerRow, billed.customer_id)
    if customer is None:
        raise ValueError(f"customer {billed.customer_id} of a billed period no longer exists")
    buyer = buyer_of(customer)
    drafts: list[Draft] = []
    originals: dict[int, InvoiceRow] = {}
    by_invoice: dict[int, list[InvoiceLineRow]] = defaultdict(list)
    for ln in lines:
        by_invoice[ln.invoice_id].append(ln)
    for invoice_id, credited in sorted(by_invoice.items()):
        original = session.get(InvoiceRow, invoice_id)
        assert original is not None
        originals[invoice_id] = original
        note = compose_credit_note(
            original=document_from_json(original.document), credited=[(ln.id or 0, _line_of(ln)) for ln in credited],
            invoice_date=invoice_date, reason=reason, buyer=buyer, vat_on_net_credit=catalogue.vat_on_net_credit)
        drafts.append(Draft(entity, note, billed.customer_id, original_invoice_id=invoice_id,
                            label=f"credit note for {original.number}"))
    already = [Line(description=f"Jo laskutettu oikaisuna / already invoiced as a correction "
                                f"({a.description})"[:100], amount=-Decimal(a.amount), vat_rate=Decimal(a.vat_rate),
                    component="carried_delta", source={"adjustment_id": a.id})
               for a in carried if a.status == "consumed"]
    for a in carried:
        if a.status == "pending":
            a.status = "superseded"
    first = originals[min(originals)] if originals else None
    charges = [PricedCharge(d, latest.id, latest.revision, i,
                            catalogue.products[d["product_code"]].name if d["product_code"] in catalogue.products
                            else d["product_code"],
                            str(catalogue.products[d["product_code"]].segment)
                            if d["product_code"] in catalogue.products else "") for i, d in target]
    delivered = consumption_of(d for _, d in target)
    original_doc = document_from_json(first.document) if first is not None else None
    corrected = compose_invoice(
        seller=seller_of(entity), buyer=buyer, period_start=billed.period_start, period_end=billed.period_end,
        charges=charges, invoice_date=invoice_date,
        consumption=[Consumption(p, u, q) for (p, u), q in sorted(delivered.items())],
        contracts=[k for k in (original_doc.contracts if original_doc else ()) if k.accounting_point ==
                   billed.accounting_point],
        reference_scheme=entity.invoicing.reference_scheme, payment_term_days=entity.invoicing.payment_term_days,
        vat_on_net_credit=catalogue.vat_on_net_credit, final=bool(first and first.final), reason=reason,
        original_number=first.number if first else None, original_date=first.invoice_date if first else None,
        extra_lines=already,
    )
    drafts.append(Draft(entity, corrected, billed.customer_id, original_invoice_id=first.id if first else None,
                        label="corrected invoice"))
    issued, refused = issue_drafts(session, entity, drafts)
    if refused:
        raise ValueError(f"correction documents not issued: {refused[0][1]}")
    for original in originals.values():
        if all(ln.id in {x.id for x in lines} for ln in session.execute(
                select(InvoiceLineRow).where(col(InvoiceLineRow.invoice_id) == original.id,
                                             col(InvoiceLineRow.rating_result_id).is_not(None))).scalars()):
            original.payment_status = "credited"
    corrected_invoice = issued[-1]
    billed.invoice_id = corrected_invoice.invoice_id
    return {"action": "credit note and corrected invoice",
            "credit_notes": [i.number for i in issued[:-1]], "corrected_invoice": corrected_invoice.number,
            "credited": str(sum((i.total for i in issued[:-1]), Decimal("0.00"))),
            "invoiced": str(corrected_invoice.total)}


def on_rating_revised(session: Session, message: OutboxMessage) -> None:
    """Outbox consumer of ``rating.revised``: settle the re-rated period where it was billed."""
    payload = message.payload
    correct_billed_period(session, payload["accounting_point"], date.fromisoformat(payload["period_start"]),
                          date.fromisoformat(payload["period_end"]))
