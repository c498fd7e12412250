"""The payment-provider simulator and the provider client, over real HTTP on 127.0.0.1: job identity by
billcode, the lifecycle on the simulated clock, payments, polling until 204, signed webhooks retried until
2xx, and every injected fault."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from gateway.billing.core.reference import national_reference
from gateway.payments.core.channels import EInvoiceChannel
from gateway.payments.provider.api import (
    SIGNATURE_HEADER,
    CustomerType,
    Debtor,
    JobRequest,
    JobStatus,
    JobType,
    PaymentReport,
    PayRow,
    parse_webhook_batch,
    verify_signature,
)
from gateway.payments.provider.client import ProviderClient, ProviderRejected, ProviderUnavailable
from gateway.payments.provider_sim.app import WebhookSettings
from gateway.payments.provider_sim.background import RunningProvider, serve_provider
from gateway.payments.provider_sim.clock import SimClock
from gateway.payments.provider_sim.faults import FaultInjector, FaultRule, Outage, parse_fault
from gateway.payments.provider_sim.simulator import Account, ProviderSimulator
from tests.support.webhook_receiver import WebhookReceiver, serve_webhook_receiver, wait_until

START = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
SECRET = "s3cret-shared"
FAST_WEBHOOKS = dict(retry_initial=0.02, retry_max=0.2, tick_interval=0.1)


def job(n: int, *, jobtype: JobType = JobType.INVOICE, person: bool = True, amount: str = "80.00",
        paydate: date = date(2026, 2, 15)) -> JobRequest:
    debtor = Debtor(CustomerType.PERSON if person else CustomerType.COMPANY, f"Asiakas {n}", "Katu 1", "00100",
                    "Helsinki")
    return JobRequest(jobtype, national_reference(str(20260000 + n)), f"R-{n}", date(2026, 2, 1), paydate, debtor,
                      [PayRow("Sähköenergia", Decimal("1"), Decimal(amount), Decimal("25.5"))])


def start_provider(receiver: WebhookReceiver | None = None, *, rules: list[FaultRule] | None = None,
                   outages: list[Outage] | None = None, slow_delay: float = 3.0):
    sim = ProviderSimulator([Account("retail", "tok-retail", receiver.url if receiver else None, SECRET),
                             Account("heating", "tok-heating")], clock=SimClock(START),
                            faults=FaultInjector(rules or []), outages=outages or [], slow_delay=slow_delay)
    return serve_provider(sim, webhooks=WebhookSettings(**FAST_WEBHOOKS))


@pytest.fixture
def provider() -> Iterator[RunningProvider]:
    with start_provider() as running:
        yield running


def client(running: RunningProvider, token: str = "tok-retail", **kwargs: object) -> ProviderClient:
    return ProviderClient(running.url, token, **kwargs)  # type: ignore[arg-type]


def statuses(updates: list) -> list[str]:
    return [u.status.value for u in updates]


def test_billcode_is_the_jobs_identity(provider: RunningProvider) -> None:
    with client(provider) as api:
        first = api.create_job(job(1))
        again = api.create_job(job(1))
        assert first.created and not again.created and again.jobid == first.jobid
        with pytest.raises(ProviderRejected) as conflict:
            api.create_job(job(1, amount="99.00"))
        assert conflict.value.status == 409 and "other content" in conflict.value.message
    retail = provider.sim.accounts()[0]
    assert len(provider.sim.cases(retail)) == 1


def test_4xx_is_permanent_and_keeps_the_providers_message(provider: RunningProvider) -> None:
    bad = JobRequest(JobType.INVOICE, "12345", "R-9", date(2026, 2, 1), date(2026, 2, 15),
                     Debtor(CustomerType.PERSON, "A", "B", "00100", "C"), [PayRow("x", Decimal(1), Decimal(1),
                                                                                   Decimal(0))])
    with client(provider) as api, pytest.raises(ProviderRejected) as caught:
        api.create_job(bad)
    assert caught.value.status == 400 and not caught.value.transient
    assert "billcode '12345' is not a valid bank reference" in caught.value.message
    with client(provider, token="wrong") as api, pytest.raises(ProviderRejected) as unauthorized:
        api.fetch_status_updates()
    assert unauthorized.value.status == 401
    with client(provider) as api, pytest.raises(ProviderRejected) as unknown:
        api.report_payment(PaymentReport(national_reference("777"), Decimal("1"), date(2026, 2, 2), "P-x"))
    assert unknown.value.status == 404


def test_full_service_consumer_lifecycle_due_reminder_collection_paid(provider: RunningProvider) -> None:
    sim = provider.sim
    with client(provider) as api:
        receipt = api.create_job(job(1))
        assert receipt.status is JobStatus.INVOICING
        sim.advance(timedelta(hours=1))
        sim.advance(timedelta(days=28))  # paydate 15.2. + 14 days → reminder on 1.3.
        case = sim.case(sim.accounts()[0], receipt.billcode)
        assert case is not None and case.status is JobStatus.REMINDER and case.fees == Decimal("5.00")
        sim.advance(timedelta(days=28))  # reminder due 15.3. + 14 days → collection
        api.report_payment(PaymentReport(receipt.billcode, Decimal("105.40"), date(2026, 3, 31), "PAY-1"))
        updates = list(api.poll_status_updates())
    assert statuses(updates) == ["Invoicing", "Due", "Reminder", "Collection", "Paid"]
    assert updates[2].time == datetime(2026, 2, 28, 22, 0, tzinfo=UTC)  # midnight in Helsinki, 1.3.
    assert len({u.id for u in updates}) == 5 and updates[-1].openamount == 0


def test_business_reminders_and_collection_come_sooner(provider: RunningProvider) -> None:
    sim = provider.sim
    with client(provider) as api:
        api.create_job(job(2, person=False))
        sim.advance(timedelta(days=14 + 7))  # paydate + 7
        sim.advance(timedelta(days=14 + 7))  # reminder term 14 + collection 7
        assert statuses(list(api.poll_status_updates())) == ["Invoicing", "Due", "Reminder", "Collection"]


def test_print_only_jobs_hand_over_reminders_and_collection_as_separate_jobs(provider: RunningProvider) -> None:
    sim = provider.sim
    with client(provider) as api:
        own = job(3, jobtype=JobType.PRINT_ONLY)
        api.create_job(own)
        sim.advance(timedelta(days=40))
        assert statuses(list(api.poll_status_updates())) == ["Invoicing", "Due"]  # no automatic dunning
        reminder = api.create_job(job(3, jobtype=JobType.REMINDER))
        assert reminder.created and reminder.status is JobStatus.REMINDER
        partial = api.report_payment(PaymentReport(own.billcode, Decimal("50.00"), date(2026, 3, 20), "PAY-A"))
        repeat = api.report_payment(PaymentReport(own.billcode, Decimal("50.00"), date(2026, 3, 20), "PAY-A"))
        assert repeat.duplicate and repeat.paidamount == partial.paidamount == Decimal("50.00")
        rest = api.report_payment(PaymentReport(own.billcode, Decimal("55.40"), date(2026, 3, 25), "PAY-B"))
        assert rest.openamount == 0
        updates = list(api.poll_status_updates())
    assert [(u.event, u.status.value) for u in updates] == [("status", "Reminder"), ("payment", "Reminder"),
                                                           ("status", "Paid")]


def test_the_channel_travels_with_the_job(provider: RunningProvider) -> None:
    request = job(4)
    einvoice = JobRequest(request.jobtype, request.billcode, request.billnum, request.billdate, request.paydate,
                          request.debtor, request.payrows, EInvoiceChannel("003712345671", "OKOYFIHH"))
    with client(provider) as api:
        api.create_job(einvoice)
    case = provider.sim.case(provider.sim.accounts()[0], request.billcode)
    assert case is not None and case.channel == "e_invoice"


def test_polling_hands_out_at_most_1000_per_call_until_204(provider: RunningProvider) -> None:
    with client(provider, token="tok-heating") as api:
        for start in range(0, 600, 200):
            api.create_jobs([job(n) for n in range(start, start + 200)])
        provider.sim.advance(timedelta(hours=1))  # 600 × (Invoicing, Due) = 1,200 updates
        first = api.fetch_status_updates()
        second = api.fetch_status_updates()
        assert (len(first), len(second), api.fetch_status_updates()) == (1000, 200, [])
    assert len({u.id for u in first + second}) == 1200


def test_accounts_are_separate(provider: RunningProvider) -> None:
    with client(provider) as retail, client(provider, token="tok-heating") as heating:
        retail.create_job(job(5))
        assert heating.fetch_status_updates() == []
        assert heating.create_job(job(5)).created  # the same billcode in another account is another job


def test_webhooks_are_signed_batched_by_500_and_retried_until_2xx() -> None:
    with serve_webhook_receiver() as receiver, start_provider(receiver) as running:
        receiver.answers.extend([500, 503])
        with client(running) as api:
            api.create_jobs([job(n) for n in range(300)])
            running.sim.advance(timedelta(hours=1))  # 600 events
            wait_until(lambda: running.sim.webhook_backlog() == 0, what="webhook delivery")
            polled = list(api.poll_status_updates())
    accepted = receiver.accepted()
    assert [d.answered for d in receiver.deliveries[:2]] == [500, 503]
    batches = [parse_webhook_batch(d.body) for d in accepted]
    assert all(len(b.events) <= 500 for b in batches)
    assert all(verify_signature(d.body, d.headers.get(SIGNATURE_HEADER), SECRET) for d in accepted)
    assert not verify_signature(accepted[0].body, accepted[0].headers.get(SIGNATURE_HEADER), "other")
    pushed = [e.id for b in batches for e in b.events]
    assert pushed == [u.id for u in polled] and len(pushed) == 600  # the same ids on both channels, once each


def test_a_duplicated_webhook_batch_carries_the_same_event_ids() -> None:
    with serve_webhook_receiver() as receiver, \
            start_provider(receiver, rules=[parse_fault("webhook:duplicate:calls=1")]) as running:  # type: ignore[list-item]
        with client(running) as api:
            api.create_job(job(7))
        wait_until(lambda: len(receiver.accepted()) >= 2, what="the duplicated batch")
    first, second = (parse_webhook_batch(d.body) for d in receiver.accepted()[:2])
    assert first.batch_id == second.batch_id and [e.id for e in first.events] == [e.id for e in second.events]


def test_an_http_5xx_is_transient(provider: RunningProvider) -> None:
    with start_provider(rules=[FaultRule("create_job", "http_5xx", calls=frozenset({1}))]) as running, \
            client(running) as api:
        with pytest.raises(ProviderUnavailable) as caught:
            api.create_job(job(8))
        assert caught.value.transient and caught.value.status == 503
        assert api.create_job(job(8)).created  # nothing was processed the first time


def test_a_lost_answer_after_the_job_was_created_never_creates_a_second_job() -> None:
    with start_provider(rules=[FaultRule("create_job", "lost_answer", calls=frozenset({1})),
                               FaultRule("payment", "lost_answer", calls=frozenset({1}))]) as running, \
            client(running) as api:
        with pytest.raises(ProviderUnavailable):
            api.create_job(job(9))
        retry = api.create_job(job(9))
        assert not retry.created  # it existed: the lost answer's job
        report = PaymentReport(retry.billcode, Decimal("10.00"), date(2026, 2, 3), "PAY-9")
        with pytest.raises(ProviderUnavailable):
            api.report_payment(report)
        assert api.report_payment(report).duplicate
        case = running.sim.case(running.sim.accounts()[0], retry.billcode)
        assert case is not None and len(case.jobs) == 1 and case.paid == Decimal("10.00")


def test_a_slow_answer_times_out_as_transient_and_the_retry_finds_the_job() -> None:
    with start_provider(rules=[FaultRule("create_job", "slow", calls=frozenset({1}))], slow_delay=3.0) as running, \
            client(running, timeout=(3.0, 0.3)) as api:
        with pytest.raises(ProviderUnavailable, match="no answer in time"):
            api.create_job(job(10))
        wait_until(lambda: running.sim.case(running.sim.accounts()[0], job(10).billcode) is not None,
                   what="the slow request to finish")
        assert not api.create_job(job(10)).created


def test_an_hour_of_outage_on_the_simulated_clock_then_every_job_once() -> None:
    with serve_webhook_receiver() as receiver, \
            start_provider(receiver, outages=[Outage(None, timedelta(hours=1))]) as running, \
            client(running) as api:
        waiting = [job(n) for n in range(20, 25)]
        for request in waiting:
            with pytest.raises(ProviderUnavailable) as caught:
                api.create_job(request)
            assert caught.value.status == 503 and "down" in caught.value.message
        running.sim.advance(timedelta(hours=1))
        receipts = [api.create_job(request) for request in waiting]
        receipts += [api.create_job(request) for request in waiting]  # an eager retry changes nothing
        assert [r.created for r in receipts] == [True] * 5 + [False] * 5
        wait_until(lambda: running.sim.webhook_backlog() == 0, what="webhooks after the outage")
        assert len(running.sim.cases(running.sim.accounts()[0])) == 5


def test_the_sandbox_control_endpoints(provider: RunningProvider) -> None:
    import requests

    headers = {"Authorization": "Bearer tok-retail"}
    with client(provider) as api:
        receipt = api.create_job(job(11))
    moved = requests.post(f"{provider.url}/sim/clock", json={"advance_seconds": 3600}, headers=headers, timeout=30)
    assert moved.status_code == 200 and moved.json()["now"].startswith("2026-02-01T09:00")
    paid = requests.post(f"{provider.url}/sim/debtor-payment", json={"billcode": receipt.billcode, "amount": "100.40"},
                         headers=headers, timeout=30)
    assert paid.status_code == 201 and paid.json()["openamount"] == "0.00"
    listed = requests.get(f"{provider.url}/sim/jobs", headers=headers, timeout=30).json()["jobs"]
    assert listed[0]["status"] == "Paid"
    bad = requests.post(f"{provider.url}/jobs", data=b"{not json", headers=headers, timeout=30)
    assert bad.status_code == 400 and bad.headers["Content-Type"].startswith("application/problem+json")
    assert json.loads(bad.text)["title"] == "Invalid JSON"


@pytest.mark.parametrize(("spec", "message"), [
    ("create_job:duplicate", "does not apply"),
    ("webhook:lost_answer", "does not apply"),
    ("create_job:explode", "unknown fault kind"),
    ("create_job:http_5xx:calls=0", "1-based"),
    ("down:for=-5", "positive"),
    ("down:from=2026-02-01T08:00:00,for=60", "UTC offset"),
    ("down", "expected down:for"),
])
def test_bad_fault_specs_are_refused(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fault(spec)
