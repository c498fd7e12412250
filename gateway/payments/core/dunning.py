"""Dunning, late interest and the consumer disconnection timeline as dated configuration.

Two kinds of dated rows (``catalogue/dunning.toml``, format in docs/receivables.md):

* **legal limits** (``[[law]]``) — what the law allows, per DOMAIN §5.3 with their sources: the consumer
  reminder fee is at most 5 €, the first charged reminder at the earliest 14 days after the due date and the
  next 14 days after the previous one (Act on the Collection of Receivables 513/1999 as amended); late
  interest is the reference rate + 7 percentage points for consumers and + 8 for business (Interest Act
  633/1982 §4 and §4a) from the day after the due date; the consumer disconnection timeline (Electricity
  Market Act 588/2013): notice, warning ≥ 2 weeks later, disconnection ≥ 2 weeks after the warning; with a
  combined contract only when ≥ 500 € is unpaid or the oldest due date is ≥ 3 months old; a special reason
  (illness, unemployment, …) moves the earliest disconnection to 3 months after the due date.
* **our policy** (``[[policy]]``, per customer type) — the days, fees and counts we choose. A policy that
  asks for more than the law allows is refused when the file loads, and every computation here also takes
  the stricter of policy and law, so no configuration can produce an illegal step.

Every date is a local calendar day (Europe/Helsinki). Nothing here disconnects anyone: the timeline yields
tasks for a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from gateway.payments.core.dated import DatedRows, add_months

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


class CustomerType(StrEnum):
    CONSUMER = "consumer"
    BUSINESS = "business"


@dataclass(frozen=True, slots=True)
class LegalLimits:
    consumer_max_reminder_fee: Decimal
    consumer_min_days_after_due: int
    consumer_min_days_between_reminders: int
    interest_margin_consumer: Decimal  # percentage points over the reference rate
    interest_margin_business: Decimal
    disconnection_min_days_notice_to_warning: int
    disconnection_min_days_warning_to_disconnection: int
    disconnection_combined_min_unpaid: Decimal
    disconnection_combined_min_months_overdue: int
    disconnection_special_reason_months: int

    def margin(self, customer_type: CustomerType) -> Decimal:
        if customer_type is CustomerType.CONSUMER:
            return self.interest_margin_consumer
        return self.interest_margin_business


@dataclass(frozen=True, slots=True)
class DunningPolicy:
    customer_type: CustomerType
    first_reminder_after_days: int
    reminder_interval_days: int
    reminder_fee: Decimal
    max_reminders: int
    collection_after_days: int  # hand-over to collection, days after the due date
    reminder_before_collection: bool  # hand over only after at least one reminder
    disconnection_notice_after_days: int  # consumers' electricity: earliest written notice after the due date


@dataclass(frozen=True, slots=True)
class DunningConfig:
    law: DatedRows[LegalLimits]
    policies: DatedRows[DunningPolicy]
    reference_rates: DatedRows[Decimal]  # percent, per half-year
    interest_year_days: int = 365  # actual/365 (practice; unverified)

    def policy(self, day: date, customer_type: CustomerType) -> DunningPolicy:
        return self.policies.on(day, customer_type)

    def check(self) -> None:
        """Refuse any policy row that asks for more than the law valid on its first day allows."""
        for row in self.policies.rows:
            policy = row.value
            law = self.law.on(row.valid_from)
            where = f"policy for {policy.customer_type} from {row.valid_from}"
            if policy.customer_type is CustomerType.CONSUMER:
                if policy.reminder_fee > law.consumer_max_reminder_fee:
                    raise ValueError(f"{where}: reminder fee {policy.reminder_fee} € is more than the law's "
                                     f"{law.consumer_max_reminder_fee} €")
                if policy.first_reminder_after_days < law.consumer_min_days_after_due:
                    raise ValueError(f"{where}: first reminder after {policy.first_reminder_after_days} days; the "
                                     f"law requires at least {law.consumer_min_days_after_due}")
                if policy.reminder_interval_days < law.consumer_min_days_between_reminders:
                    raise ValueError(f"{where}: reminders {policy.reminder_interval_days} days apart; the law "
                                     f"requires at least {law.consumer_min_days_between_reminders}")
            if policy.reminder_fee < 0 or policy.max_reminders < 0 or policy.collection_after_days < 0:
                raise ValueError(f"{where}: fees, counts and days must not be negative")


@dataclass(frozen=True, slots=True)
class ReminderStep:
    """The next reminder of one invoice: when it may be sent at the earliest and what it may charge."""

    number: int  # 1 = first reminder
    earliest: date
    fee: Decimal

    def due_on(self, today: date) -> bool:
        return today >= self.earliest


def next_reminder(due_date: date, customer_type: CustomerType, reminders_sent: Sequence[date], today: date,
                  config: DunningConfig) -> ReminderStep | None:
    """The next reminder as of ``today`` (rules valid today), or None when the policy sends no more."""
    policy, law = config.policy(today, customer_type), config.law.on(today)
    if len(reminders_sent) >= policy.max_reminders:
        return None
    after_due, between = policy.first_reminder_after_days, policy.reminder_interval_days
    fee = policy.reminder_fee
    if customer_type is CustomerType.CONSUMER:
        after_due = max(after_due, law.consumer_min_days_after_due)
        between = max(between, law.consumer_min_days_between_reminders)
        fee = min(fee, law.consumer_max_reminder_fee)
    earliest = due_date + timedelta(days=after_due)
    if reminders_sent:
        earliest = max(earliest, max(reminders_sent) + timedelta(days=between))
    return ReminderStep(number=len(reminders_sent) + 1, earliest=earliest, fee=max(fee, Decimal(0)))


def collection_handover(due_date: date, customer_type: CustomerType, reminders_sent: Sequence[date], today: date,
                        config: DunningConfig) -> date | None:
    """The earliest day the invoice may be handed over to collection, or None while a reminder must come
    first."""
    policy = config.policy(today, customer_type)
    if policy.reminder_before_collection and not reminders_sent:
        return None
    earliest = due_date + timedelta(days=policy.collection_after_days)
    if reminders_sent and customer_type is CustomerType.CONSUMER:
        law = config.law.on(today)
        earliest = max(earliest, max(reminders_sent) + timedelta(days=law.consumer_min_days_between_reminders))
    return earliest


@dataclass(frozen=True, slots=True)
class InterestPeriod:
    start: date  # first day of interest
    end: date  # last day, inclusive
    rate_percent: Decimal  # reference rate + margin
    amount: Decimal  # unrounded


@dataclass(frozen=True, slots=True)
class LateInterest:
    amount: Decimal  # rounded to cents, half up
    periods: tuple[InterestPeriod, ...]


def late_interest(principal: Decimal, due_date: date, paid_on: date, customer_type: CustomerType,
                  config: DunningConfig) -> LateInterest:
    """Late interest on ``principal`` from the day after the due date to ``paid_on`` inclusive, at each
    day's half-year reference rate + the margin valid that day, actual/365."""
    first, last = due_date + timedelta(days=1), paid_on
    if principal <= 0 or last < first:
        return LateInterest(Decimal("0.00"), ())
    periods: list[InterestPeriod] = []
    for lo, hi, reference in config.reference_rates.spans(first, last + timedelta(days=1)):
        for lo2, hi2, law in config.law.spans(lo, hi):
            rate = reference + law.margin(customer_type)
            days = (hi2 - lo2).days
            amount = principal * rate / HUNDRED * days / config.interest_year_days
            periods.append(InterestPeriod(lo2, hi2 - timedelta(days=1), rate, amount))
    total = sum((p.amount for p in periods), Decimal(0)).quantize(CENT, rounding=ROUND_HALF_UP)
    return LateInterest(total, tuple(periods))


class TaskKind(StrEnum):
    SEND_NOTICE = "send_disconnection_notice"
    SEND_WARNING = "send_disconnection_warning"
    REVIEW_DISCONNECTION = "review_disconnection"  # a person decides; never automatic


@dataclass(frozen=True, slots=True)
class DisconnectionCase:
    """A consumer's unpaid electricity: the facts the timeline depends on."""

    oldest_due_date: date
    unpaid: Decimal
    combined_contract: bool
    special_reason: bool = False
    notice_sent: date | None = None
    warning_sent: date | None = None


@dataclass(frozen=True, slots=True)
class PersonTask:
    """A dated task for a person. ``earliest`` is the first day the law and our policy allow it."""

    kind: TaskKind
    earliest: date
    detail: str
    requires_person: bool = True


def disconnection_task(case: DisconnectionCase, today: date, config: DunningConfig) -> PersonTask:
    """The next step of the disconnection timeline for a consumer (rules valid today)."""
    policy, law = config.policy(today, CustomerType.CONSUMER), config.law.on(today)
    if case.notice_sent is None:
        earliest = case.oldest_due_date + timedelta(days=max(1, policy.disconnection_notice_after_days))
        return PersonTask(TaskKind.SEND_NOTICE, earliest, "send the written notice of unpaid electricity")
    if case.warning_sent is None:
        earliest = case.notice_sent + timedelta(days=law.disconnection_min_days_notice_to_warning)
        return PersonTask(TaskKind.SEND_WARNING, earliest,
                          f"send the disconnection warning (≥ {law.disconnection_min_days_notice_to_warning} days "
                          "after the notice)")
    earliest = case.warning_sent + timedelta(days=law.disconnection_min_days_warning_to_disconnection)
    reasons = [f"≥ {law.disconnection_min_days_warning_to_disconnection} days after the warning"]
    if case.special_reason:
        earliest = max(earliest, add_months(case.oldest_due_date, law.disconnection_special_reason_months))
        reasons.append(f"special reason: ≥ {law.disconnection_special_reason_months} months after the due date")
    if case.combined_contract and case.unpaid < law.disconnection_combined_min_unpaid:
        months_at = add_months(case.oldest_due_date, law.disconnection_combined_min_months_overdue)
        earliest = max(earliest, months_at)
        reasons.append(f"combined contract with less than {law.disconnection_combined_min_unpaid} € unpaid: "
                       f"only when the oldest due date is ≥ {law.disconnection_combined_min_months_overdue} "
                       "months old")
    return PersonTask(TaskKind.REVIEW_DISCONNECTION, earliest,
                      "a person reviews the case and decides on disconnection (" + "; ".join(reasons) + ")")
