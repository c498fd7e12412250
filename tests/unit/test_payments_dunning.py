"""Dunning, late interest and the disconnection timeline: never more than the law allows, never earlier."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.payments.core.dated import DatedRow, DatedRows, add_months
from gateway.payments.core.dunning import (
    CustomerType,
    DisconnectionCase,
    DunningConfig,
    DunningPolicy,
    TaskKind,
    collection_handover,
    disconnection_task,
    late_interest,
    next_reminder,
)
from gateway.payments.dunning_config import DunningConfigError, load_dunning_config, parse_dunning_config

CONFIG = load_dunning_config()
CONSUMER, BUSINESS = CustomerType.CONSUMER, CustomerType.BUSINESS
LAW = CONFIG.law.on(date(2026, 1, 1))
DAYS_2026H1 = st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 6, 1))


def test_the_first_consumer_reminder_comes_14_days_after_the_due_date_with_at_most_5_euros() -> None:
    step = next_reminder(date(2026, 1, 10), CONSUMER, [], date(2026, 1, 20), CONFIG)
    assert step is not None
    assert step.earliest == date(2026, 1, 24) and step.fee == Decimal("5.00")
    assert not step.due_on(date(2026, 1, 23)) and step.due_on(date(2026, 1, 24))


def test_the_policy_sends_one_reminder_then_hands_over_to_collection() -> None:
    assert next_reminder(date(2026, 1, 10), CONSUMER, [date(2026, 1, 24)], date(2026, 2, 1), CONFIG) is None
    assert collection_handover(date(2026, 1, 10), CONSUMER, [], date(2026, 2, 1), CONFIG) is None
    assert collection_handover(date(2026, 1, 10), CONSUMER, [date(2026, 1, 24)], date(2026, 2, 1), CONFIG) == \
        date(2026, 2, 7)
    assert collection_handover(date(2026, 1, 10), BUSINESS, [], date(2026, 2, 1), CONFIG) == date(2026, 1, 17)


def test_late_interest_is_the_reference_rate_plus_7_or_8_points_from_the_day_after_the_due_date() -> None:
    consumer = late_interest(Decimal("1000.00"), date(2026, 1, 10), date(2026, 2, 9), CONSUMER, CONFIG)
    assert consumer.periods[0].rate_percent == Decimal("9.5") and consumer.periods[0].start == date(2026, 1, 11)
    assert consumer.amount == Decimal("7.81")  # 1000 × 9.5 % × 30 / 365
    business = late_interest(Decimal("1000.00"), date(2026, 1, 10), date(2026, 2, 9), BUSINESS, CONFIG)
    assert business.periods[0].rate_percent == Decimal("10.5") and business.amount == Decimal("8.63")
    assert late_interest(Decimal("1000"), date(2026, 1, 10), date(2026, 1, 10), CONSUMER, CONFIG).amount == 0


def test_a_day_outside_the_rate_table_is_an_error_not_a_guess() -> None:
    with pytest.raises(LookupError, match="reference rate"):
        late_interest(Decimal("10"), date(2026, 6, 20), date(2026, 7, 10), CONSUMER, CONFIG)


def test_the_disconnection_timeline_is_tasks_for_a_person() -> None:
    due = date(2026, 1, 10)
    notice = disconnection_task(DisconnectionCase(due, Decimal("800"), combined_contract=True), date(2026, 1, 12),
                                CONFIG)
    assert notice.kind is TaskKind.SEND_NOTICE and notice.requires_person
    warning = disconnection_task(DisconnectionCase(due, Decimal("800"), True, notice_sent=date(2026, 1, 25)),
                                 date(2026, 1, 26), CONFIG)
    assert warning.kind is TaskKind.SEND_WARNING and warning.earliest == date(2026, 2, 8)
    review = disconnection_task(DisconnectionCase(due, Decimal("800"), True, notice_sent=date(2026, 1, 25),
                                                  warning_sent=date(2026, 2, 8)), date(2026, 2, 9), CONFIG)
    assert review.kind is TaskKind.REVIEW_DISCONNECTION and review.earliest == date(2026, 2, 22)
    small = disconnection_task(DisconnectionCase(due, Decimal("120"), True, notice_sent=date(2026, 1, 25),
                                                 warning_sent=date(2026, 2, 8)), date(2026, 2, 9), CONFIG)
    assert small.earliest == date(2026, 4, 10)  # under 500 €: only when the due date is 3 months old
    special = disconnection_task(DisconnectionCase(due, Decimal("800"), False, special_reason=True,
                                                   notice_sent=date(2026, 1, 25), warning_sent=date(2026, 2, 8)),
                                 date(2026, 2, 9), CONFIG)
    assert special.earliest == date(2026, 4, 10)


def test_a_policy_asking_for_more_than_the_law_is_refused_on_load(tmp_path: Path) -> None:
    text = Path("catalogue/dunning.toml").read_text(encoding="utf-8").replace('reminder_fee_eur = "5.00"',
                                                                              'reminder_fee_eur = "7.50"')
    import tomllib

    with pytest.raises(DunningConfigError, match="more than the law"):
        parse_dunning_config(tomllib.loads(text))
    with pytest.raises(DunningConfigError, match="exact numbers"):
        parse_dunning_config(tomllib.loads(text.replace('reminder_fee_eur = "7.50"', "reminder_fee_eur = 4.5")))
    with pytest.raises(DunningConfigError, match="first reminder"):
        parse_dunning_config(tomllib.loads(Path("catalogue/dunning.toml").read_text(encoding="utf-8").replace(
            "first_reminder_after_days = 14", "first_reminder_after_days = 10", 1)))


def test_overlapping_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        DatedRows([DatedRow(date(2026, 1, 1), date(2026, 7, 1), 1), DatedRow(date(2026, 3, 1), None, 2)], "x")


def test_months_are_calendar_months_clamped_to_the_month_end() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)


# ---- properties: any policy, legal or not, yields only legal steps -----------------------------------------

policies = st.builds(
    DunningPolicy,
    customer_type=st.just(CONSUMER),
    first_reminder_after_days=st.integers(0, 40),
    reminder_interval_days=st.integers(0, 40),
    reminder_fee=st.integers(0, 3000).map(lambda c: Decimal(c).scaleb(-2)),
    max_reminders=st.integers(0, 4),
    collection_after_days=st.integers(0, 40),
    reminder_before_collection=st.booleans(),
    disconnection_notice_after_days=st.integers(0, 30),
)


def with_policy(policy: DunningPolicy) -> DunningConfig:
    return DunningConfig(law=CONFIG.law, policies=DatedRows([DatedRow(date(2020, 1, 1), None, policy)], "policy",
                                                            key=lambda p: p.customer_type),
                         reference_rates=CONFIG.reference_rates)


@settings(max_examples=300, deadline=None)
@given(policy=policies, due=DAYS_2026H1, gaps=st.lists(st.integers(0, 60), max_size=4), today=DAYS_2026H1)
def test_consumer_reminders_are_never_early_and_never_dearer_than_the_law(
        policy: DunningPolicy, due: date, gaps: list[int], today: date) -> None:
    config = with_policy(policy)
    sent: list[date] = []
    for gap in gaps:  # a history of reminders, each sent on or after the day the rules allowed it
        step = next_reminder(due, CONSUMER, sent, today, config)
        if step is None:
            break
        sent.append(step.earliest + timedelta(days=gap))
    step = next_reminder(due, CONSUMER, sent, today, config)
    if step is None:
        return
    assert step.fee <= LAW.consumer_max_reminder_fee
    assert step.earliest >= due + timedelta(days=LAW.consumer_min_days_after_due)
    if sent:
        assert step.earliest >= max(sent) + timedelta(days=LAW.consumer_min_days_between_reminders)
    for earlier, later in itertools.pairwise(sent):
        assert later >= earlier + timedelta(days=LAW.consumer_min_days_between_reminders)


@settings(max_examples=300, deadline=None)
@given(principal=st.integers(1, 10_000_000).map(lambda c: Decimal(c).scaleb(-2)), due=DAYS_2026H1,
       days=st.integers(-10, 25), kind=st.sampled_from(list(CustomerType)))
def test_late_interest_never_exceeds_the_legal_rate_nor_starts_before_the_day_after_the_due_date(
        principal: Decimal, due: date, days: int, kind: CustomerType) -> None:
    paid = due + timedelta(days=days)
    result = late_interest(principal, due, paid, kind, CONFIG)
    if days <= 0:
        assert result.amount == 0 and not result.periods
        return
    ceiling = principal * (Decimal("2.5") + LAW.margin(kind)) / 100 * days / 365
    assert result.amount <= ceiling + Decimal("0.005")
    assert min(p.start for p in result.periods) == due + timedelta(days=1)
    assert sum((p.end - p.start).days + 1 for p in result.periods) == days


@settings(max_examples=300, deadline=None)
@given(policy=policies, due=DAYS_2026H1, unpaid=st.integers(0, 200_000).map(lambda c: Decimal(c).scaleb(-2)),
       combined=st.booleans(), special=st.booleans(), gap1=st.integers(0, 40), gap2=st.integers(0, 40))
def test_no_disconnection_step_is_ever_scheduled_earlier_than_the_law_allows(
        policy: DunningPolicy, due: date, unpaid: Decimal, combined: bool, special: bool, gap1: int,
        gap2: int) -> None:
    config = with_policy(policy)
    case = DisconnectionCase(due, unpaid, combined, special)
    notice = disconnection_task(case, due, config)
    assert notice.kind is TaskKind.SEND_NOTICE and notice.earliest > due
    notice_day = notice.earliest + timedelta(days=gap1)
    case = DisconnectionCase(due, unpaid, combined, special, notice_sent=notice_day)
    warning = disconnection_task(case, notice_day, config)
    assert warning.earliest >= notice_day + timedelta(days=14)
    warning_day = warning.earliest + timedelta(days=gap2)
    review = disconnection_task(DisconnectionCase(due, unpaid, combined, special, notice_day, warning_day),
                                warning_day, config)
    assert review.kind is TaskKind.REVIEW_DISCONNECTION and review.requires_person
    assert review.earliest >= warning_day + timedelta(days=14)
    if special:
        assert review.earliest >= add_months(due, 3)
    if combined and unpaid < 500:
        assert review.earliest >= add_months(due, 3)
