"""Receivables end to end against the provider simulator and the gateway's own HTTP service: a released invoice
becomes a provider job, its statuses arrive by polling and by webhook, bank files pay it, dunning reminds, and
the provider's Paid closes it. The provider down for an hour, and an answer lost after the job was created,
never lose or double a job."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import requests
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.app import create_app
from gateway.billing.runs import bill
from gateway.bootstrap import build_registry
from gateway.config import Settings
from gateway.domain.identifiers import make_gsrn
from gateway.payments.bank_samples import SampleEntry, SamplePart
from gateway.payments.dunning_run import run_dunning
from gateway.payments.importing import import_bank_file
from gateway.payments.provider.api import SIGNATURE_HEADER, JobStatus, JobType, StatusUpdate, sign, webhook_body
from gateway.payments.provider_calls import NO_UPDATE_YET
from gateway.payments.provider_sim.app import WebhookSettings
from gateway.payments.provider_sim.background import RunningProvider, serve_provider
from gateway.payments.provider_sim.clock import SimClock
from gateway.payments.provider_sim.faults import FaultInjector, FaultRule, Outage, parse_fault
from gateway.payments.provider_sim.simulator import Account, ProviderSimulator
from gateway.payments.settings import provider_settings
from gateway.payments.status_updates import Stored, poll_provider, store_updates
from gateway.queries.detail import raw_document
from gateway.queries.messages import MessageFilter, MessageRef, MessageSummary, search_messages
from gateway.rating.catalogues import load_catalogue_file
from gateway.store.billing_tables import BillingAdjustmentRow, InvoiceRow
from gateway.store.payments_tables import DunningStepRow, ProviderEventRow, ProviderJobRow, ProviderWebhookRow
from outbox import ManualClock, OutboxSettings
from outbox.schema import outbox_delivery
from outbox.types import utcnow
from outbox.worker import Worker
from tests.support.billing_store import MARCH, add_billable_point
from tests.support.live_app import serve_app
from tests.support.rating_store import DEMO_CATALOGUE
from tests.support.receivables import RETAIL_IBAN, camt054

SECRET = "lifecycle-webhook-secret-0123456789"
TOKENS = {"ropo-retail-0001": "tok-retail", "ropo-network-0001": "tok-network", "ropo-heat-0001": "tok-heat"}
INVOICE_DATE = date(2026, 4, 2)


@dataclass
class Stack:
    engine: Engine
    provider: RunningProvider
    settings: Settings
    worker: Worker

    @property
    def sim(self) -> ProviderSimulator:
        return self.provider.sim

    def account(self, name: str) -> Account:
        return next(a for a in self.sim.accounts() if a.name == name)


def _settings(engine: Engine, base_url: str | None) -> Settings:
    table: dict[str, object] = {"webhook_secret": SECRET, "accounts": TOKENS, "timeout_seconds": 10}
    if base_url:
        table["base_url"] = base_url
    return Settings(database_url=engine.url.render_as_string(hide_password=False), raw={"payment_provider": table},
                    outbox=OutboxSettings(backoff_base=timedelta(seconds=2), backoff_max=timedelta(minutes=10)))


@contextmanager
def stack(engine: Engine, *, faults: list[FaultRule] = (), outages: list[Outage] = (),  # type: ignore[assignment]
          webhooks: bool = True, clock: ManualClock | None = None) -> Iterator[Stack]:
    with serve_app(create_app(_settings(engine, None), engine)) as app_url:
        hook = f"{app_url}/webhooks/payment-provider" if webhooks else None
        sim = ProviderSimulator([Account(name, token, hook, SECRET) for name, token in TOKENS.items()],
                                clock=SimClock(datetime(2026, 4, 2, 8, 0, tzinfo=UTC)),
                                faults=FaultInjector(list(faults)), outages=list(outages), slow_delay=0.1)
        with serve_provider(sim, webhooks=WebhookSettings(retry_initial=0.05, retry_max=0.5, tick_interval=0.05)) as p:
            settings = _settings(engine, p.url)
            worker = Worker(engine, build_registry(settings, engine), settings.outbox, clock=clock)
            yield Stack(engine, p, settings, worker)


def bill_march(engine: Engine, customers: int = 1) -> None:
    load_catalogue_file(engine, DEMO_CATALOGUE)
    with Session(engine) as s, s.begin():
        for n in range(1, customers + 1):
            add_billable_point(s, make_gsrn(f"6430099{n:010d}"), customer=n)
    report = bill(engine, MARCH, invoice_date=INVOICE_DATE)
    assert report.held == []


def invoice(engine: Engine, entity: str = "retail", number: str = "100000001") -> InvoiceRow:
    with Session(engine) as s:
        return s.execute(select(InvoiceRow).where(col(InvoiceRow.entity_id) == entity,
                                                  col(InvoiceRow.number) == number)).scalar_one()


def wait_for(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def events(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.execute(select(func.count()).select_from(ProviderEventRow)).scalar_one())


def test_released_job_due_partial_payment_reminder_rest_paid(engine: Engine) -> None:
    bill_march(engine)
    with stack(engine, faults=[parse_fault("webhook:duplicate:calls=2")]) as st:  # type: ignore[list-item]
        retail = invoice(engine)
        st.worker.drain()
        case = st.sim.case(st.account("ropo-retail-0001"), retail.reference)
        assert case is not None and case.jobs.keys() == {JobType.PRINT_ONLY} and case.total == Decimal(retail.total)
        network_case = st.sim.case(st.account("ropo-network-0001"), invoice(engine, "distribution", "200000001")
                                   .reference_rf)
        assert network_case is not None and network_case.jobs.keys() == {JobType.INVOICE}

        st.sim.advance(timedelta(hours=2))  # delivered: Due
        config = provider_settings(st.settings)
        polled = poll_provider(engine, config)
        retail_polled = polled["ropo-retail-0001"]
        assert retail_polled["stored"] + retail_polled["duplicates"] == 2  # Invoicing, Due (the webhook may be first)
        wait_for(lambda: st.sim.webhook_backlog() == 0, "the webhooks")
        assert events(engine) == len(st.sim.events(st.account("ropo-retail-0001"))) + len(
            st.sim.events(st.account("ropo-network-0001")))  # each event once, whichever channel came first
        assert invoice(engine).status == "sent"

        total = Decimal(retail.total)
        half = (total / 2).quantize(Decimal("0.01"))
        first = import_bank_file(engine, "part.xml", camt054([SampleEntry(
            "LC-1", half, date(2026, 4, 10), parts=[SamplePart(retail.reference)])], iban=RETAIL_IBAN))
        assert first.allocated == 1 and invoice(engine).payment_status == "partially_paid"
        st.worker.drain()  # the payment is reported to the provider
        assert st.sim.case(st.account("ropo-retail-0001"), retail.reference).paid == half  # type: ignore[union-attr]

        report = run_dunning(engine, date(2026, 4, 30))  # due 16.4. + 14 days
        assert [(r["invoice"], r["fee"]) for r in report.reminders] == [("100000001", "5.00")]
        assert run_dunning(engine, date(2026, 4, 30)).reminders == []  # idempotent
        st.worker.drain()  # the hand-over: a type 1 job with the same billcode
        poll_provider(engine, config)
        assert invoice(engine).payment_status == "overdue"
        with Session(engine) as s:
            fee = s.execute(select(BillingAdjustmentRow).where(
                col(BillingAdjustmentRow.kind) == "reminder_fee")).scalar_one()
        assert (fee.amount, fee.status) == ("5.00", "pending")  # on the customer's next invoice

        rest = total - half
        second = import_bank_file(engine, "rest.xml", camt054([SampleEntry(
            "LC-2", rest, date(2026, 5, 5), unstructured=[f"viite {retail.reference}"])], iban=RETAIL_IBAN))
        assert second.allocated == 1 and invoice(engine).payment_status == "paid"
        st.worker.drain()
        poll_provider(engine, config)
        wait_for(lambda: st.sim.webhook_backlog() == 0, "the webhooks")
        with Session(engine) as s:
            job = s.execute(select(ProviderJobRow).where(col(ProviderJobRow.billcode) == retail.reference)).scalar_one()
        assert job.provider_status == JobStatus.PAID.value

        interest = run_dunning(engine, date(2026, 5, 6))
        assert [i["invoice"] for i in interest.interest] == ["100000001"]  # the rest was paid 19 days late
        with Session(engine) as s:
            kinds = sorted(s.execute(select(col(DunningStepRow.kind))).scalars())
        assert kinds == ["late_interest", "reminder"]

        # A webhook batch delivered twice changes nothing the second time (the simulator's duplicate fault did
        # it once already; here the whole history again, signed).
        before = events(engine)
        account = st.account("ropo-retail-0001")
        body = webhook_body("again-1", account.name, utcnow(), st.sim.events(account))
        answer = requests.post(account.webhook_url or "", data=body, timeout=30,
                               headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, SECRET)})
        assert answer.status_code == 200 and answer.json()["stored"] == 0
        assert events(engine) == before
        forged = requests.post(account.webhook_url or "", data=body, timeout=30,
                               headers={SIGNATURE_HEADER: sign(body, "another-secret-0123456789")})
        assert forged.status_code == 401

        # Every exchange with the provider is in the message log with its payload: our calls (the jobs as sent
        # with their receipts, the payments we received, the reminder hand-over) and its webhook batches as
        # received (a forged one is not kept).
        with Session(engine) as s:
            def logged(document_type: str, **kw: str) -> list[MessageSummary]:
                return search_messages(s, MessageFilter(document_type=document_type, **kw), limit=100).items

            jobs = {m.party: m for m in logged("PROVIDER_JOB")}
            assert set(jobs) == {"ropo-retail-0001", "ropo-network-0001"}
            assert {(m.direction, m.status) for m in jobs.values()} == {("outbound", "sent")}
            sent = raw_document(s, MessageRef.parse(jobs["ropo-retail-0001"].id))
            assert sent is not None
            call = json.loads(sent.data)
            assert call["request"]["billcode"] == retail.reference
            assert call["answer"]["jobid"] == case.jobs[JobType.PRINT_ONLY]
            assert [m.status for m in logged("PROVIDER_PAYMENT")] == ["sent", "sent"]
            assert [m.status for m in logged("PROVIDER_REMINDER")] == ["sent"]
            again = logged("PROVIDER_WEBHOOK", message_id="again-1")
            assert [(m.direction, m.party, m.status, m.extra["duplicates"]) for m in again] == [
                ("inbound", "ropo-retail-0001", "stored", len(st.sim.events(account)))]
            kept = raw_document(s, MessageRef.parse(again[0].id))
            assert kept is not None and kept.data == body
            assert len(logged("PROVIDER_WEBHOOK")) == s.execute(
                select(func.count()).select_from(ProviderWebhookRow)).scalar_one()
            assert all(m.status == "stored" for m in logged("PROVIDER_WEBHOOK"))  # the forged one is not there


def test_the_provider_down_for_an_hour_delays_every_job_and_sends_each_once(engine: Engine) -> None:
    bill_march(engine, customers=3)
    clock = ManualClock(utcnow() + timedelta(minutes=1))
    outage = parse_fault("down:for=3600")
    assert isinstance(outage, Outage)
    with stack(engine, outages=[outage], webhooks=False, clock=clock) as st:
        assert {o.result for o in st.worker.drain()} >= {"retry"}
        for _ in range(3):  # the provider still answers 503 for most of the hour
            st.sim.advance(timedelta(minutes=15))
            clock.advance(timedelta(minutes=15))
            st.worker.drain()
        with Session(engine) as s:
            assert s.execute(select(func.count()).select_from(ProviderJobRow)).scalar_one() == 0
        st.sim.advance(timedelta(minutes=20))  # the hour is over
        clock.advance(timedelta(minutes=20))
        st.worker.drain()
        with Session(engine) as s:
            jobs = s.execute(select(ProviderJobRow)).scalars().all()
            dead = s.execute(select(func.count()).select_from(outbox_delivery).where(
                outbox_delivery.c.state == "dead")).scalar_one()
        retail = st.sim.cases(st.account("ropo-retail-0001"))
        network = st.sim.cases(st.account("ropo-network-0001"))
    assert len(jobs) == 6 and dead == 0
    assert len(retail) == len(network) == 3 and all(len(c.jobs) == 1 for c in retail + network)


def test_an_answer_lost_after_the_job_was_created_makes_no_second_job(engine: Engine) -> None:
    bill_march(engine)
    clock = ManualClock(utcnow() + timedelta(minutes=1))
    lost = parse_fault("create_job:lost_answer:calls=1")
    with stack(engine, faults=[lost], webhooks=False, clock=clock) as st:  # type: ignore[list-item]
        first = st.worker.drain()
        assert "retry" in {o.result for o in first}
        clock.advance(timedelta(minutes=5))
        st.worker.drain()
        cases = st.sim.cases(st.account("ropo-retail-0001")) + st.sim.cases(st.account("ropo-network-0001"))
        with Session(engine) as s:
            jobs = {j.billcode: j.jobid for j in s.execute(select(ProviderJobRow)).scalars()}
    assert len(cases) == 2 and all(len(c.jobs) == 1 for c in cases)
    assert jobs == {c.billcode: next(iter(c.jobs.values())) for c in cases}


def test_a_job_the_provider_refuses_is_a_dead_letter_with_its_message(engine: Engine) -> None:
    load_catalogue_file(engine, DEMO_CATALOGUE)
    with Session(engine) as s, s.begin():
        add_billable_point(s, make_gsrn(f"6430099{1:010d}"), customer=1)
    bill(engine, MARCH, invoice_date=INVOICE_DATE)
    with Session(engine) as s, s.begin():  # the provider needs a postcode; ours was lost meanwhile
        from gateway.store.billing_tables import BillingCustomerRow

        for customer in s.execute(select(BillingCustomerRow)).scalars():
            customer.postcode = None
    with stack(engine, webhooks=False) as st:
        outcomes = st.worker.drain()
    dead = [o for o in outcomes if o.result == "dead"]
    assert len(dead) == 2 and all("postcode is required" in (o.error or "") for o in dead)
    assert all(o.message.attempts == 1 for o in dead)  # at once, not after the retry schedule


def _update(billcode: str, event_id: str, status: JobStatus, minute: int) -> StatusUpdate:
    return StatusUpdate(event_id, 2001, JobType.INVOICE, billcode, "200000001", status,
                        datetime(2026, 4, 2, 8, minute, tzinfo=UTC), Decimal("68.49"), Decimal("0.00"))


def test_an_event_that_announced_the_job_before_its_answer_was_recorded_is_applied_with_the_job(
    engine: Engine,
) -> None:
    # The provider pushes a job's first status the moment it creates the job; our call's answer (the job row)
    # may be recorded after that event is stored. The event waits without an invoice and the job takes it over.
    bill_march(engine)
    network = invoice(engine, "distribution", "200000001")
    with Session(engine) as s, s.begin():
        early = store_updates(s, "ropo-network-0001", [_update(network.reference_rf, "early-1", JobStatus.DUE, 1)],
                              "webhook")
    assert early.unknown == 1
    with stack(engine, webhooks=False) as st:
        st.worker.drain()  # the job is created and recorded
    with Session(engine) as s:
        event = s.execute(select(ProviderEventRow).where(col(ProviderEventRow.event_id) == "early-1")).scalar_one()
        job = s.execute(select(ProviderJobRow).where(col(ProviderJobRow.invoice_id) == network.id)).scalar_one()
    assert event.invoice_id == network.id
    assert job.provider_status == JobStatus.DUE.value
    assert invoice(engine, "distribution", "200000001").status == "sent"


def test_an_orphaned_event_brought_again_by_the_other_channel_is_applied_once_its_job_exists(
    engine: Engine,
) -> None:
    bill_march(engine)
    network = invoice(engine, "distribution", "200000001")
    update = _update(network.reference_rf, "early-2", JobStatus.DUE, 2)
    with Session(engine) as s, s.begin():
        assert store_updates(s, "ropo-network-0001", [update], "webhook").unknown == 1
        # The job recorded by a transaction that could not yet see the event (PostgreSQL, both committing at once).
        now = utcnow()
        s.add(ProviderJobRow(invoice_id=network.id, entity_id="distribution", account="ropo-network-0001",
                             billcode=network.reference_rf, jobtype=0, jobid=2001, channel="paper",
                             provider_status=JobStatus.INVOICING.value, status_at=NO_UPDATE_YET, created_at=now,
                             updated_at=now))
    with Session(engine) as s, s.begin():
        assert store_updates(s, "ropo-network-0001", [update], "poll") == Stored(0, 1, 0)
    with Session(engine) as s:
        event = s.execute(select(ProviderEventRow).where(col(ProviderEventRow.event_id) == "early-2")).scalar_one()
        job = s.execute(select(ProviderJobRow).where(col(ProviderJobRow.invoice_id) == network.id)).scalar_one()
    assert (event.invoice_id, job.provider_status) == (network.id, JobStatus.DUE.value)
    assert invoice(engine, "distribution", "200000001").status == "sent"
