"""The simulated provider's state: accounts, jobs, their lifecycle on the simulated clock, payments and the
status updates that polling and webhooks hand out. In memory, thread-safe (tests inspect it while the HTTP
server answers in another thread).

Lifecycle (DOMAIN §5.1; the provider's own process, so configuration of the simulator, not law):

* a new job is ``Invoicing``; it is delivered after ``delivery_delay`` and becomes ``Due``;
* full service (job type 0): unpaid ``reminder_after_days`` after the due date it becomes ``Reminder`` with
  the reminder fee added and a new due date ``reminder_term_days`` later; unpaid ``collection_after_days``
  after that it is handed over to ``Collection`` (business 7 / consumer 14 days by default);
* print only (300): the provider only delivers; reminders (type 1) and collection (type 2) come as separate
  jobs with the same ``billcode`` and move the case on at once (a print-only reminder adds no fee here: the
  invoicing party charges its own fee on its next invoice);
* paid in full (payments reported with ``POST /jobs/payment``, or a debtor paying the provider) → ``Paid``.

A job's identity is (account, billcode, job type): a repeated ``POST /jobs`` returns the existing job with
``created: false``; the same identity with different content is refused (409). A reported payment's
``identifier`` makes a repeated report count once.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from gateway.billing.core.reference import parse_reference
from gateway.domain.periods import HELSINKI
from gateway.payments.core.channels import ChannelError, channel_from_provider_fields
from gateway.payments.provider.api import (
    JOBS_PER_REQUEST_MAX,
    STATUS_PAGE_MAX,
    CustomerType,
    JobReceipt,
    JobStatus,
    JobType,
    StatusUpdate,
    parse_decimal,
)
from gateway.payments.provider_sim.clock import SimClock
from gateway.payments.provider_sim.faults import FaultInjector, Outage

CENT: Final = Decimal("0.01")
ZERO: Final = Decimal("0.00")


class ProblemError(Exception):
    """An answer rendered as RFC 9457 problem+json."""

    def __init__(self, status: int, title: str, detail: str, errors: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = list(errors)[:100]


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    token: str
    webhook_url: str | None = None
    webhook_secret: str | None = None


@dataclass(frozen=True, slots=True)
class Lifecycle:
    delivery_delay: timedelta = timedelta(hours=1)
    reminder_after_days: Mapping[CustomerType, int] = field(
        default_factory=lambda: {CustomerType.PERSON: 14, CustomerType.COMPANY: 7})
    reminder_fee: Mapping[CustomerType, Decimal] = field(
        default_factory=lambda: {CustomerType.PERSON: Decimal("5.00"), CustomerType.COMPANY: Decimal("10.00")})
    reminder_term_days: int = 14
    collection_after_days: Mapping[CustomerType, int] = field(
        default_factory=lambda: {CustomerType.PERSON: 14, CustomerType.COMPANY: 7})


@dataclass
class Case:
    """Everything the provider knows under one billcode of one account."""

    account: str
    billcode: str
    billnum: str
    customertype: CustomerType
    paydate: date
    total: Decimal
    full_service: bool
    created_at: datetime
    channel: str
    status: JobStatus = JobStatus.INVOICING
    jobs: dict[JobType, int] = field(default_factory=dict)
    fingerprints: dict[JobType, str] = field(default_factory=dict)
    fees: Decimal = ZERO
    paid: Decimal = ZERO
    payment_ids: set[str] = field(default_factory=set)
    reminder_due: date | None = None
    next_at: datetime | None = None

    @property
    def open_amount(self) -> Decimal:
        return max(self.total + self.fees - self.paid, ZERO)

    def to_json(self) -> dict[str, Any]:
        return {"billcode": self.billcode, "billnum": self.billnum, "status": self.status.value,
                "jobs": {str(int(k)): v for k, v in self.jobs.items()}, "total": f"{self.total:f}",
                "fees": f"{self.fees:f}", "paid": f"{self.paid:f}", "openamount": f"{self.open_amount:f}",
                "paydate": self.paydate.isoformat(), "channel": self.channel,
                "next_change": self.next_at.isoformat() if self.next_at else None}


@dataclass(frozen=True, slots=True)
class _ValidJob:
    jobtype: JobType
    billcode: str
    billnum: str
    customertype: CustomerType
    paydate: date
    total: Decimal
    channel: str
    fingerprint: str


class ProviderSimulator:
    def __init__(self, accounts: Sequence[Account], *, clock: SimClock, faults: FaultInjector | None = None,
                 outages: Sequence[Outage] = (), lifecycle: Lifecycle | None = None,
                 slow_delay: float = 5.0) -> None:
        if not accounts:
            raise ValueError("the simulator needs at least one account")
        self.clock = clock
        self.faults = faults or FaultInjector()
        self.outages = tuple(outages)
        self.lifecycle = lifecycle or Lifecycle()
        self.slow_delay = slow_delay
        self._accounts = {a.token: a for a in accounts}
        self._by_name = {a.name: a for a in accounts}
        if len(self._by_name) != len(accounts) or len(self._accounts) != len(accounts):
            raise ValueError("account names and tokens must be unique")
        self._cases: dict[tuple[str, str], Case] = {}
        self._events: dict[str, list[StatusUpdate]] = {a.name: [] for a in accounts}
        self._polled: dict[str, int] = dict.fromkeys(self._by_name, 0)
        self._pushed: dict[str, int] = dict.fromkeys(self._by_name, 0)
        self._schedule: list[tuple[datetime, int, str, str]] = []
        self._jobids = itertools.count(1001)
        self._seq = itertools.count(1)
        self._lock = threading.RLock()
        self.changed = threading.Event()  # set when new events wait for webhook delivery

    # ---- identity and availability -------------------------------------------------------------------

    def account_for_token(self, token: str) -> Account | None:
        return self._accounts.get(token)

    def accounts(self) -> list[Account]:
        return list(self._by_name.values())

    def is_down(self, instant: datetime | None = None) -> bool:
        moment = instant or self.clock.now()
        return any(o.covers(moment, self.clock.start) for o in self.outages)

    # ---- API operations ------------------------------------------------------------------------------

    def create_jobs(self, account: Account, document: Any) -> list[JobReceipt]:
        items = _dataset(document)
        valid: list[_ValidJob] = []
        errors: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                valid.append(_validate_job(item))
            except ValueError as exc:
                errors.append({"index": index, "detail": str(exc)})
        if errors:
            raise ProblemError(400, "Invalid job", f"{len(errors)} of {len(items)} job(s) are invalid; none "
                                                   "was created", errors)
        with self._lock:
            self._tick_locked()
            now = self.clock.now()
            for index, job in enumerate(valid):  # check every identity before creating anything
                case = self._cases.get((account.name, job.billcode))
                known = case.fingerprints.get(job.jobtype) if case else None
                if known is not None and known != job.fingerprint:
                    raise ProblemError(409, "Conflicting job", f"billcode {job.billcode} already has a job of type "
                                       f"{int(job.jobtype)} with other content", [{"index": index}])
            return [self._create(account, job, now) for job in valid]

    def report_payment(self, account: Account, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ProblemError(400, "Invalid payment", "the body must be a JSON object")
        try:
            billcode = _reference(data.get("billcode"))
            amount = parse_decimal(data.get("amount"), "amount").quantize(CENT, ROUND_HALF_UP)
            date.fromisoformat(str(data.get("paydate")))
        except ValueError as exc:
            raise ProblemError(400, "Invalid payment", str(exc)) from None
        identifier = str(data.get("identifier") or "")
        if amount <= 0:
            raise ProblemError(400, "Invalid payment", "amount must be positive")
        with self._lock:
            self._tick_locked()
            case = self._cases.get((account.name, billcode))
            if case is None:
                raise ProblemError(404, "Unknown job", f"no job with billcode {billcode} in account {account.name}")
            duplicate = bool(identifier) and identifier in case.payment_ids
            if not duplicate:
                if identifier:
                    case.payment_ids.add(identifier)
                self._pay(case, amount, self.clock.now())
            return {"jobid": next(iter(case.jobs.values())), "billcode": billcode, "paidamount": f"{case.paid:f}",
                    "openamount": f"{case.open_amount:f}", "duplicate": duplicate}

    def debtor_payment(self, account: Account, billcode: str, amount: Decimal) -> dict[str, Any]:
        """Sandbox: the debtor pays the provider (full service) — as if the provider's bank reported it."""
        return self.report_payment(account, {"billcode": billcode, "amount": f"{amount:f}",
                                             "paydate": self.clock.now().astimezone(HELSINKI).date().isoformat(),
                                             "type": "debtorpayment"})

    def poll(self, account: Account, limit: int = STATUS_PAGE_MAX) -> list[StatusUpdate]:
        """The oldest status updates not yet fetched by polling (at most ``limit``); they count as fetched."""
        limit = max(1, min(limit, STATUS_PAGE_MAX))
        with self._lock:
            self._tick_locked()
            start = self._polled[account.name]
            page = self._events[account.name][start:start + limit]
            self._polled[account.name] = start + len(page)
            return page

    def webhook_batch(self, account: Account, limit: int) -> tuple[int, list[StatusUpdate]]:
        """(first index, events) not yet acknowledged by the webhook receiver."""
        with self._lock:
            start = self._pushed[account.name]
            return start, self._events[account.name][start:start + limit]

    def webhook_acknowledged(self, account: Account, start: int, count: int) -> None:
        with self._lock:
            if self._pushed[account.name] == start:
                self._pushed[account.name] = start + count

    def webhook_backlog(self) -> int:
        with self._lock:
            return sum(len(self._events[name]) - self._pushed[name] for name in self._by_name)

    # ---- time ----------------------------------------------------------------------------------------

    def tick(self) -> None:
        with self._lock:
            self._tick_locked()

    def advance(self, delta: timedelta) -> datetime:
        self.clock.advance(delta)
        self.tick()
        return self.clock.now()

    # ---- inspection (tests, /sim/jobs) ------------------------------------------------------------------

    def cases(self, account: Account) -> list[Case]:
        with self._lock:
            self._tick_locked()
            return [c for (name, _), c in self._cases.items() if name == account.name]

    def case(self, account: Account, billcode: str) -> Case | None:
        with self._lock:
            self._tick_locked()
            return self._cases.get((account.name, billcode))

    def events(self, account: Account) -> list[StatusUpdate]:
        with self._lock:
            return list(self._events[account.name])

    # ---- internals (lock held) -------------------------------------------------------------------------

    def _create(self, account: Account, job: _ValidJob, now: datetime) -> JobReceipt:
        key = (account.name, job.billcode)
        case = self._cases.get(key)
        if case is not None and job.jobtype in case.jobs:
            return JobReceipt(case.jobs[job.jobtype], job.jobtype, job.billcode, case.status, created=False)
        jobid = next(self._jobids)
        if case is None:
            case = Case(account.name, job.billcode, job.billnum, job.customertype, job.paydate, job.total,
                        full_service=job.jobtype is JobType.INVOICE, created_at=now, channel=job.channel)
            self._cases[key] = case
            case.jobs[job.jobtype] = jobid
            case.fingerprints[job.jobtype] = job.fingerprint
            if job.jobtype in (JobType.INVOICE, JobType.PRINT_ONLY):
                self._emit(case, now, JobStatus.INVOICING)
                self._schedule_at(case, now + self.lifecycle.delivery_delay)
            else:
                self._hand_over(case, job.jobtype, now)
        else:
            case.jobs[job.jobtype] = jobid
            case.fingerprints[job.jobtype] = job.fingerprint
            if job.jobtype in (JobType.REMINDER, JobType.COLLECTION) and case.status is not JobStatus.PAID:
                self._hand_over(case, job.jobtype, now)
        return JobReceipt(jobid, job.jobtype, job.billcode, case.status, created=True)

    def _hand_over(self, case: Case, jobtype: JobType, now: datetime) -> None:
        if jobtype is JobType.REMINDER and case.status in (JobStatus.INVOICING, JobStatus.DUE):
            self._remind(case, now)
        elif jobtype is JobType.COLLECTION and case.status is not JobStatus.COLLECTION:
            case.next_at = None
            self._emit(case, now, JobStatus.COLLECTION)

    def _remind(self, case: Case, at: datetime) -> None:
        if case.full_service:  # print only: the fee is ours, charged on the customer's next invoice
            case.fees += self.lifecycle.reminder_fee[case.customertype]
        case.reminder_due = _local_day(at) + timedelta(days=self.lifecycle.reminder_term_days)
        self._emit(case, at, JobStatus.REMINDER)
        if case.full_service:
            days = self.lifecycle.collection_after_days[case.customertype]
            self._schedule_at(case, _local_midnight(case.reminder_due + timedelta(days=days)))
        else:
            case.next_at = None

    def _pay(self, case: Case, amount: Decimal, now: datetime) -> None:
        case.paid += amount
        if case.open_amount <= 0 and case.status is not JobStatus.PAID:
            case.next_at = None
            self._emit(case, now, JobStatus.PAID)
        else:
            self._emit(case, now, case.status, event="payment")

    def _advance_case(self, case: Case, at: datetime) -> None:
        if case.status is JobStatus.INVOICING:
            self._emit(case, at, JobStatus.DUE)
            if case.full_service:
                days = self.lifecycle.reminder_after_days[case.customertype]
                self._schedule_at(case, _local_midnight(case.paydate + timedelta(days=days)))
            else:
                case.next_at = None
        elif case.status is JobStatus.DUE and case.full_service:
            self._remind(case, at)
        elif case.status is JobStatus.REMINDER and case.full_service:
            case.next_at = None
            self._emit(case, at, JobStatus.COLLECTION)
        else:
            case.next_at = None

    def _schedule_at(self, case: Case, at: datetime) -> None:
        case.next_at = at
        heapq.heappush(self._schedule, (at, next(self._seq), case.account, case.billcode))

    def _tick_locked(self) -> None:
        now = self.clock.now()
        while self._schedule and self._schedule[0][0] <= now:
            at, _, account, billcode = heapq.heappop(self._schedule)
            case = self._cases.get((account, billcode))
            if case is None or case.next_at != at or case.status is JobStatus.PAID:
                continue  # superseded
            self._advance_case(case, at)

    def _emit(self, case: Case, at: datetime, status: JobStatus, event: str = "status") -> None:
        case.status = status
        events = self._events[case.account]
        jobtype = next(iter(case.jobs))  # the case's first job speaks for it
        events.append(StatusUpdate(
            id=f"{case.account}-{len(events) + 1:09d}", jobid=case.jobs[jobtype], jobtype=jobtype,
            billcode=case.billcode, billnum=case.billnum, status=status, time=at, openamount=case.open_amount,
            paidamount=case.paid, fees=case.fees, event=event))
        self.changed.set()


def _dataset(document: Any) -> list[Any]:
    stream = document.get("datastream") if isinstance(document, dict) else None
    dataset = stream.get("dataset") if isinstance(stream, dict) else None
    if not isinstance(dataset, list) or not dataset:
        raise ProblemError(400, "Invalid document", 'the body must be {"datastream": {"dataset": [job, …]}} with '
                                                    "at least one job")
    if len(dataset) > JOBS_PER_REQUEST_MAX:
        raise ProblemError(413, "Too many jobs", f"{len(dataset)} jobs in one request; at most "
                                                 f"{JOBS_PER_REQUEST_MAX}")
    return dataset


def _validate_job(item: Any) -> _ValidJob:
    if not isinstance(item, dict):
        raise ValueError("a job must be a JSON object")
    try:
        jobtype = JobType(int(str(item.get("jobtype"))))
    except ValueError:
        raise ValueError(f"jobtype {item.get('jobtype')!r} must be 0, 300, 1 or 2") from None
    try:
        customertype = CustomerType(int(str(item.get("customertype"))))
    except ValueError:
        raise ValueError(f"customertype {item.get('customertype')!r} must be 1 (company) or 2 (person)") from None
    name_field = "person" if customertype is CustomerType.PERSON else "company"
    for required in (name_field, "address", "postcode", "city", "billnum"):
        if not str(item.get(required) or "").strip():
            raise ValueError(f"{required} is required")
    billcode = _reference(item.get("billcode"))
    billdate = _date(item, "billdate")
    paydate = _date(item, "paydate")
    if paydate < billdate:
        raise ValueError("paydate must not be before billdate")
    rows = item.get("payrow")
    if not isinstance(rows, list) or not rows:
        raise ValueError("payrow must list at least one row")
    total = ZERO
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not str(row.get("desc") or "").strip():
            raise ValueError(f"payrow {number}: desc is required")
        count = parse_decimal(row.get("count"), f"payrow {number} count")
        amount = parse_decimal(row.get("amount"), f"payrow {number} amount")
        taxpr = parse_decimal(row.get("taxpr", "0"), f"payrow {number} taxpr")
        if count <= 0 or not 0 <= taxpr <= 100:
            raise ValueError(f"payrow {number}: count must be positive and taxpr 0-100")
        total += (count * amount * (1 + taxpr / 100)).quantize(CENT, ROUND_HALF_UP)
    try:
        channel = channel_from_provider_fields(item).kind.value
    except ChannelError as exc:
        raise ValueError(str(exc)) from None
    fingerprint = hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()
    return _ValidJob(jobtype, billcode, str(item["billnum"]), customertype, paydate, total, channel, fingerprint)


def _reference(value: Any) -> str:
    compact = parse_reference(str(value or ""))
    if compact is None:
        raise ValueError(f"billcode {value!r} is not a valid bank reference (national or RF, check digits)")
    return compact


def _date(item: Mapping[str, Any], key: str) -> date:
    try:
        return date.fromisoformat(str(item.get(key)))
    except ValueError:
        raise ValueError(f"{key} {item.get(key)!r} must be a date YYYY-MM-DD") from None


def _local_day(instant: datetime) -> date:
    return instant.astimezone(HELSINKI).date()


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), HELSINKI)
