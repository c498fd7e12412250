"""`gateway dunning run --date D`: the dunning rules (gateway/payments/core/dunning.py, catalogue/dunning.toml)
applied to the stored invoices as of day D, in one transaction. Idempotent: every step is one row, unique per
invoice, kind and number, so running the same day again (or an earlier one) adds nothing.

Per open invoice past its due date, of an entity whose provider does not dun (no provider, or print only):

* hand-over to collection when ``collection_handover`` allows it (a print-only entity's provider gets a
  ``POST /jobs`` of type 2), else
* the next reminder when ``next_reminder`` allows it: the fee (never above the law's cap for consumers) goes
  on the customer's next invoice (``add_adjustment`` kind ``reminder_fee``); a print-only entity's provider
  gets a ``POST /jobs`` of type 1, which sends the reminder.

An entity whose provider has full service dunns nothing here: the provider reminds and collects, and its
statuses (Reminder, Collection) set the invoice's payment status when they arrive.

Late interest: an invoice paid after its due date gets interest on each payment from the day after the due
date to the payment's booking day (``late_interest``: the half-year reference rate + 7 / 8 pp), charged once
on the next invoice (``late_interest`` adjustment) when the invoice is paid in full.

Disconnection (consumers' electricity, Electricity Market Act): for each customer and electricity entity with
overdue unpaid invoices, the next step of the timeline (notice → warning → review) becomes a dated task for a
person once its earliest day has come; a task is done by a person (`gateway dunning task-done`), and the open
tasks of a case that has been paid are cancelled. Nothing disconnects anyone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.service import add_adjustment
from gateway.events import PROVIDER_REQUEST
from gateway.payments import ledger
from gateway.payments.core.dunning import (
    CustomerType,
    DisconnectionCase,
    DunningConfig,
    TaskKind,
    collection_handover,
    disconnection_task,
    late_interest,
    next_reminder,
)
from gateway.payments.dunning_config import load_dunning_config
from gateway.payments.entities import catalogue_entities, full_service, provider_account
from gateway.rating.core.catalogue import LegalEntity, Segment
from gateway.store.billing_tables import InvoiceRow
from gateway.store.payments_tables import (
    DisconnectionTaskRow,
    DunningStepRow,
    PaymentAllocationRow,
    ProviderRequestRow,
)
from outbox.types import utcnow

log = logging.getLogger("gateway.payments.dunning")
ZERO = Decimal("0.00")
ELECTRICITY = (Segment.RETAIL, Segment.NETWORK)


@dataclass
class DunningReport:
    day: date
    reminders: list[dict[str, Any]] = field(default_factory=list)
    collections: list[dict[str, Any]] = field(default_factory=list)
    interest: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    cancelled_tasks: int = 0
    followed_provider: int = 0  # open overdue invoices a full-service provider dunns
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "reminders": self.reminders, "collections": self.collections,
                "late_interest": self.interest, "tasks": self.tasks, "cancelled_tasks": self.cancelled_tasks,
                "followed_provider": self.followed_provider, "errors": self.errors[:100]}

    def text(self) -> str:
        lines = [f"dunning {self.day}: {len(self.reminders)} reminder(s), {len(self.collections)} hand-over(s) to "
                 f"collection, {len(self.interest)} late-interest charge(s), {len(self.tasks)} new disconnection "
                 f"task(s), {self.cancelled_tasks} cancelled; {self.followed_provider} overdue invoice(s) dunned "
                 "by their full-service provider"]
        lines += [f"  reminder {r['number']}  invoice {r['invoice']}  fee {r['fee']} EUR" for r in self.reminders]
        lines += [f"  collection  invoice {c['invoice']}" for c in self.collections]
        lines += [f"  interest    invoice {i['invoice']}  {i['amount']} EUR" for i in self.interest]
        lines += [f"  task {t['kind']}  customer {t['customer_id']}  earliest {t['earliest']}" for t in self.tasks]
        lines += [f"  error  {e}" for e in self.errors[:100]]
        return "\n".join(lines)


def run_dunning(engine: Engine, day: date, config: DunningConfig | None = None) -> DunningReport:
    config = config or load_dunning_config()
    report = DunningReport(day)
    with Session(engine) as session, session.begin():
        _Run(session, day, config, report).run()
    return report


class _Run:
    def __init__(self, session: Session, day: date, config: DunningConfig, report: DunningReport) -> None:
        self.session, self.day, self.config, self.report = session, day, config, report
        self.entities: Mapping[str, LegalEntity] = catalogue_entities(session)
        self.now = utcnow()

    def run(self) -> None:
        overdue = list(self.session.execute(select(InvoiceRow).where(
            col(InvoiceRow.kind) == "invoice", col(InvoiceRow.due_date) < self.day,
            col(InvoiceRow.payment_status).not_in(["paid", "credited"])).order_by(col(InvoiceRow.id))).scalars())
        states = ledger.load_states(self.session, [i.id for i in overdue if i.id is not None])
        steps: dict[int, dict[str, list[DunningStepRow]]] = {}
        for step in self.session.execute(select(DunningStepRow).where(
                ledger.in_ids(self.session, col(DunningStepRow.invoice_id), list(states)))).scalars():
            steps.setdefault(step.invoice_id, {}).setdefault(step.kind, []).append(step)
        touched: list[int] = []
        for invoice in overdue:
            assert invoice.id is not None
            state = states.get(invoice.id)
            if state is None or state.open_amount <= 0:
                continue
            entity = self.entities.get(invoice.entity_id)
            if full_service(entity) or state.full_service:
                self.report.followed_provider += 1
                continue
            try:
                if self._dun(invoice, entity, steps.get(invoice.id, {})):
                    touched.append(invoice.id)
            except (LookupError, ValueError) as error:
                self.report.errors.append(f"invoice {invoice.number}: {error}")
        self.session.flush()
        ledger.refresh(self.session, touched)
        self._late_interest()
        self._disconnections(overdue, states)

    def _dun(self, invoice: InvoiceRow, entity: LegalEntity | None, steps: dict[str, list[DunningStepRow]]) -> bool:
        assert invoice.id is not None
        if steps.get("collection"):
            return False
        customer_type = CustomerType(invoice.customer_type)
        sent = sorted(s.day for s in steps.get("reminder", []))
        handover = collection_handover(invoice.due_date, customer_type, sent, self.day, self.config)
        if handover is not None and self.day >= handover:
            request = self._provider_request(invoice, entity, "collection")
            self._step(invoice, "collection", 1, None, None, request, "handed over to collection")
            self.report.collections.append({"invoice": invoice.number, "entity": invoice.entity_id})
            return True
        step = next_reminder(invoice.due_date, customer_type, sent, self.day, self.config)
        if step is None or not step.due_on(self.day):
            return False
        adjustment = None
        if step.fee > 0:
            adjustment = add_adjustment(
                self.session, customer_id=invoice.customer_id, entity=invoice.entity_id, kind="reminder_fee",
                amount=step.fee, description=f"Muistutusmaksu, lasku {invoice.number}",
                source=f"dunning {self.day} reminder {step.number} of invoice {invoice.number}")
        request = self._provider_request(invoice, entity, "reminder")
        self._step(invoice, "reminder", step.number, step.fee, adjustment, request, f"reminder {step.number}")
        self.report.reminders.append({"invoice": invoice.number, "entity": invoice.entity_id,
                                      "number": step.number, "fee": f"{step.fee:.2f}"})
        return True

    def _step(self, invoice: InvoiceRow, kind: str, number: int, amount: Decimal | None, adjustment: int | None,
              request: int | None, detail: str) -> None:
        assert invoice.id is not None
        self.session.add(DunningStepRow(
            invoice_id=invoice.id, entity_id=invoice.entity_id, customer_id=invoice.customer_id, kind=kind,
            number=number, day=self.day, amount=None if amount is None else f"{amount:.2f}", adjustment_id=adjustment,
            request_id=request, detail=detail, created_at=self.now))

    def _provider_request(self, invoice: InvoiceRow, entity: LegalEntity | None, kind: str) -> int | None:
        account = provider_account(entity)
        if account is None or invoice.id is None:
            return None
        row = ProviderRequestRow(kind=kind, identity=f"{invoice.entity_id}:{invoice.number}:{kind}", account=account,
                                 invoice_id=invoice.id, body={"day": self.day.isoformat()}, status="queued",
                                 created_at=self.now)
        self.session.add(row)
        self.session.flush()
        assert row.id is not None
        PROVIDER_REQUEST.emit(self.session, {"request_id": row.id}, key=f"invoice:{invoice.id}")
        return row.id

    def _late_interest(self) -> None:
        charged = select(col(DunningStepRow.invoice_id)).where(col(DunningStepRow.kind) == "late_interest")
        rows = self.session.execute(
            select(InvoiceRow, PaymentAllocationRow).join(
                PaymentAllocationRow, col(PaymentAllocationRow.invoice_id) == col(InvoiceRow.id)).where(
                col(InvoiceRow.payment_status) == "paid", col(InvoiceRow.kind) == "invoice",
                col(PaymentAllocationRow.kind) == "invoice", col(InvoiceRow.id).not_in(charged),
                col(InvoiceRow.due_date) < self.day).order_by(col(InvoiceRow.id), col(PaymentAllocationRow.id))).all()
        by_invoice: dict[int, tuple[InvoiceRow, list[PaymentAllocationRow]]] = {}
        for invoice, allocation in rows:
            by_invoice.setdefault(invoice.id or 0, (invoice, []))[1].append(allocation)
        for invoice, allocations in by_invoice.values():
            if full_service(self.entities.get(invoice.entity_id)):
                continue
            late = [a for a in allocations if a.paid_on > invoice.due_date and a.paid_on <= self.day]
            if not late:
                continue
            try:
                amount = sum((late_interest(Decimal(a.amount), invoice.due_date, a.paid_on,
                                            CustomerType(invoice.customer_type), self.config).amount for a in late),
                             ZERO)
            except LookupError as error:
                self.report.errors.append(f"invoice {invoice.number}: late interest: {error}")
                continue
            adjustment = None
            if amount > 0:
                adjustment = add_adjustment(
                    self.session, customer_id=invoice.customer_id, entity=invoice.entity_id, kind="late_interest",
                    amount=amount, description=f"Viivästyskorko, lasku {invoice.number}",
                    source=f"dunning {self.day}: paid after {invoice.due_date}")
            self._step(invoice, "late_interest", 1, amount, adjustment, None,
                       f"{len(late)} payment(s) after the due date")
            if amount > 0:
                self.report.interest.append({"invoice": invoice.number, "amount": f"{amount:.2f}"})

    def _disconnections(self, overdue: list[InvoiceRow], states: Mapping[int, ledger.InvoiceState]) -> None:
        cases: dict[tuple[int, str], list[InvoiceRow]] = {}
        segments_of: dict[int, set[str]] = {}
        for invoice in overdue:
            entity = self.entities.get(invoice.entity_id)
            state = states.get(invoice.id or 0)
            if (entity is None or entity.segment not in ELECTRICITY or invoice.customer_type != "consumer"
                    or state is None or state.open_amount <= 0):
                continue
            cases.setdefault((invoice.customer_id, invoice.entity_id), []).append(invoice)
            segments_of.setdefault(invoice.customer_id, set()).add(entity.segment.value)
        open_tasks = list(self.session.execute(select(DisconnectionTaskRow).where(
            col(DisconnectionTaskRow.status) == "open")).scalars())
        keys: set[str] = set()
        for (customer, entity_id), invoices in sorted(cases.items()):
            oldest = min(i.due_date for i in invoices)
            key = f"{customer}:{entity_id}:{oldest}"
            keys.add(key)
            unpaid = sum((states[i.id or 0].open_amount for i in invoices), ZERO)
            tasks = {t.kind: t for t in self.session.execute(select(DisconnectionTaskRow).where(
                col(DisconnectionTaskRow.case_key) == key)).scalars()}
            notice, warning = tasks.get(TaskKind.SEND_NOTICE.value), tasks.get(TaskKind.SEND_WARNING.value)
            if (notice and notice.status == "open") or (warning and warning.status == "open"):
                continue  # the person has not done the current step yet
            case = DisconnectionCase(
                oldest, unpaid, combined_contract=len(segments_of.get(customer, ())) > 1,
                notice_sent=notice.done_on if notice else None, warning_sent=warning.done_on if warning else None)
            task = disconnection_task(case, self.day, self.config)
            if task.kind.value in tasks or self.day < task.earliest:
                continue
            self.session.add(DisconnectionTaskRow(
                case_key=key, customer_id=customer, entity_id=entity_id, kind=task.kind.value, earliest=task.earliest,
                unpaid=f"{unpaid:.2f}", oldest_due_date=oldest, detail=task.detail[:500], status="open",
                created_at=self.now, updated_at=self.now))
            self.report.tasks.append({"customer_id": customer, "entity": entity_id, "kind": task.kind.value,
                                      "earliest": task.earliest.isoformat(), "unpaid": f"{unpaid:.2f}"})
        for stale in open_tasks:
            if stale.case_key not in keys:
                stale.status, stale.updated_at = "cancelled", self.now
                self.report.cancelled_tasks += 1


def list_tasks(session: Session, *, include_closed: bool = False) -> list[dict[str, Any]]:
    q = select(DisconnectionTaskRow).order_by(col(DisconnectionTaskRow.earliest), col(DisconnectionTaskRow.id))
    if not include_closed:
        q = q.where(col(DisconnectionTaskRow.status) == "open")
    return [{"id": t.id, "customer_id": t.customer_id, "entity": t.entity_id, "kind": t.kind,
             "earliest": t.earliest.isoformat(), "unpaid": t.unpaid, "oldest_due_date": t.oldest_due_date.isoformat(),
             "detail": t.detail, "status": t.status, "done_on": t.done_on.isoformat() if t.done_on else None}
            for t in session.execute(q).scalars()]


def complete_task(session: Session, task_id: int, day: date) -> None:
    from gateway.payments.service import PaymentInputError

    task = session.get(DisconnectionTaskRow, task_id, with_for_update=True)
    if task is None:
        raise PaymentInputError(f"no disconnection task {task_id}")
    if task.status != "open":
        raise PaymentInputError(f"task {task_id} is {task.status}")
    if day < task.earliest:
        raise PaymentInputError(f"task {task_id} may be done on {task.earliest} at the earliest (the law's minimum)")
    task.status, task.done_on, task.updated_at = "done", day, utcnow()
