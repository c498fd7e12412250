"""Allocation of bank entries by reference: the rules as examples, and the money invariants as properties."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.billing.core.reference import national_reference, rf_reference
from gateway.payments.core.allocation import (
    AccountStatus,
    DecisionStatus,
    OpenItem,
    UnmatchedReason,
    allocate,
    classify_account,
)
from gateway.payments.core.entries import BankEntry, BankFileFormat, CreditDebit, RemittancePart

OURS = AccountStatus.OURS
REF_A = national_reference("1000")  # 10003
REF_B = national_reference("1001")
REF_C = national_reference("1002")
BAD_REF = REF_A[:-1] + str((int(REF_A[-1]) + 1) % 10)


def entry(amount: str, *parts: RemittancePart, ustrd: tuple[str, ...] = (), ref: str = "E1",
          debit: bool = False, reversal: bool = False, currency: str = "EUR") -> BankEntry:
    return BankEntry(BankFileFormat.CAMT054, ref, "FI2112345600000785", Decimal(amount), currency,
                     CreditDebit.DEBIT if debit else CreditDebit.CREDIT, date(2026, 2, 2), reversal=reversal,
                     parts=parts, unstructured=ustrd)


def item(invoice: str, reference: str, open_amount: str, due: date = date(2026, 1, 31),
         customer: str = "C1") -> OpenItem:
    return OpenItem(invoice, reference, customer, Decimal(open_amount), due)


def part(reference: str | None, amount: str | None = None) -> RemittancePart:
    return RemittancePart(reference_text=reference, amount=Decimal(amount) if amount else None)


def test_an_exact_payment_pays_its_invoice() -> None:
    decision = allocate(entry("100.00", part(REF_A)), account=OURS, open_items=[item("INV1", REF_A, "100.00")])
    assert decision.status is DecisionStatus.ALLOCATED
    assert [(a.invoice, a.amount) for a in decision.allocations] == [("INV1", Decimal("100.00"))]


def test_a_partial_payment_leaves_the_rest_open() -> None:
    decision = allocate(entry("40.00", part(REF_A)), account=OURS, open_items=[item("INV1", REF_A, "100.00")])
    assert decision.allocated_total == Decimal("40.00") and not decision.credits and not decision.unmatched


def test_an_overpayment_becomes_the_customers_credit() -> None:
    decision = allocate(entry("130.00", part(REF_A)), account=OURS,
                        open_items=[item("INV1", REF_A, "100.00", customer="C9")])
    assert decision.allocated_total == Decimal("100.00")
    assert [(c.customer, c.amount) for c in decision.credits] == [("C9", Decimal("30.00"))]


def test_a_second_payment_to_a_paid_invoice_is_credit_too() -> None:
    decision = allocate(entry("50.00", part(REF_A)), account=OURS, open_items=[item("INV1", REF_A, "0")])
    assert decision.credit_total == Decimal("50.00") and not decision.allocations


def test_one_payment_for_several_invoices_with_stated_amounts() -> None:
    decision = allocate(entry("150.00", part(REF_A, "100.00"), part(REF_B, "50.00")), account=OURS,
                        open_items=[item("INV1", REF_A, "100.00"), item("INV2", REF_B, "80.00")])
    assert {(a.invoice, a.amount) for a in decision.allocations} == {("INV1", Decimal("100.00")),
                                                                      ("INV2", Decimal("50.00"))}


def test_several_references_in_the_unstructured_text_pay_oldest_first() -> None:
    decision = allocate(entry("120.00", ustrd=(f"laskut {REF_B} ja {REF_A}",)), account=OURS,
                        open_items=[item("INV1", REF_A, "100.00", due=date(2026, 1, 1)),
                                    item("INV2", REF_B, "100.00", due=date(2026, 2, 1))])
    assert [(a.invoice, a.amount) for a in decision.allocations] == [("INV1", Decimal("100.00")),
                                                                     ("INV2", Decimal("20.00"))]


def test_a_reference_only_in_the_unstructured_text_is_used() -> None:
    spaced = " ".join([REF_A[:-5], REF_A[-5:]])
    decision = allocate(entry("10.00", ustrd=(spaced,)), account=OURS, open_items=[item("INV1", REF_A, "10.00")])
    assert decision.status is DecisionStatus.ALLOCATED


def test_an_rf_reference_matches_its_invoice() -> None:
    rf = rf_reference(REF_A)
    decision = allocate(entry("10.00", part(rf)), account=OURS, open_items=[item("INV1", rf, "10.00")])
    assert decision.status is DecisionStatus.ALLOCATED


def test_an_invalid_check_digit_is_never_trusted() -> None:
    decision = allocate(entry("10.00", part(BAD_REF)), account=OURS, open_items=[item("INV1", BAD_REF, "10.00")])
    assert decision.reason is UnmatchedReason.INVALID_REFERENCE and decision.unmatched_total == Decimal("10.00")


def test_no_reference_at_all() -> None:
    decision = allocate(entry("10.00", ustrd=("thanks for the electricity",)), account=OURS)
    assert decision.reason is UnmatchedReason.NO_REFERENCE


def test_a_valid_reference_without_an_invoice() -> None:
    assert allocate(entry("10.00", part(REF_C)), account=OURS).reason is UnmatchedReason.NO_OPEN_INVOICE


def test_a_stated_part_with_a_bad_reference_is_unmatched_for_its_amount_only() -> None:
    decision = allocate(entry("150.00", part(REF_A, "100.00"), part(BAD_REF, "50.00")), account=OURS,
                        open_items=[item("INV1", REF_A, "100.00")])
    assert decision.allocated_total == Decimal("100.00")
    assert [(u.amount, u.reason) for u in decision.unmatched] == [(Decimal("50.00"), UnmatchedReason.INVALID_REFERENCE)]
    assert decision.status is DecisionStatus.PARTLY_UNMATCHED


def test_accounts_that_are_not_ours_or_not_ibans() -> None:
    assert classify_account("FI21 1234 5600 0007 85", ["FI2112345600000785"]) is AccountStatus.OURS
    assert classify_account("FI5810171000000122", ["FI2112345600000785"]) is AccountStatus.NOT_OURS
    assert classify_account("FI2112345600000786", ["FI2112345600000786"]) is AccountStatus.INVALID
    e = entry("10.00", part(REF_A))
    assert allocate(e, account=AccountStatus.NOT_OURS).reason is UnmatchedReason.UNKNOWN_ACCOUNT
    assert allocate(e, account=AccountStatus.INVALID).reason is UnmatchedReason.INVALID_ACCOUNT


def test_foreign_currency_and_debits_are_not_payments() -> None:
    assert allocate(entry("10.00", part(REF_A), currency="SEK"), account=OURS).reason is \
        UnmatchedReason.FOREIGN_CURRENCY
    debit = allocate(entry("10.00", part(REF_A), debit=True), account=OURS)
    assert debit.reason is UnmatchedReason.NOT_A_PAYMENT and debit.unmatched_total == Decimal("-10.00")


def test_an_entry_seen_before_changes_nothing() -> None:
    decision = allocate(entry("10.00", part(REF_A)), account=OURS, already_imported=True,
                        open_items=[item("INV1", REF_A, "10.00")])
    assert decision.status is DecisionStatus.ALREADY_IMPORTED
    assert not decision.allocations and not decision.unmatched and decision.amount == 0


def test_a_reversal_undoes_its_original_exactly() -> None:
    original = allocate(entry("130.00", part(REF_A), ref="E1"), account=OURS,
                        open_items=[item("INV1", REF_A, "100.00")])
    reversal = allocate(entry("130.00", part(REF_A), ref="E2", debit=True, reversal=True), account=OURS,
                        original=original)
    assert reversal.status is DecisionStatus.REVERSED and reversal.reversal_of == "E1"
    assert reversal.allocated_total == -original.allocated_total
    assert reversal.credit_total == -original.credit_total
    assert reversal.allocated_total + reversal.credit_total + reversal.unmatched_total == Decimal("-130.00")


def test_a_reversal_without_its_original_is_unmatched() -> None:
    reversal = allocate(entry("5.00", part(REF_A), debit=True, reversal=True), account=OURS)
    assert reversal.reason is UnmatchedReason.ORIGINAL_NOT_FOUND and reversal.unmatched_total == Decimal("-5.00")


# ---- properties ------------------------------------------------------------------------------------------

REFERENCES = [national_reference(str(1000 + i)) for i in range(6)]
cents = st.integers(min_value=0, max_value=500_000).map(lambda c: Decimal(c).scaleb(-2))
positive_cents = st.integers(min_value=1, max_value=500_000).map(lambda c: Decimal(c).scaleb(-2))
reference_texts = st.one_of(st.sampled_from(REFERENCES), st.just(BAD_REF), st.just("12"), st.none())


@st.composite
def payments(draw: st.DrawFn) -> tuple[BankEntry, list[OpenItem]]:
    parts = tuple(RemittancePart(reference_text=draw(reference_texts), amount=draw(st.none() | cents))
                  for _ in range(draw(st.integers(0, 4))))
    ustrd = tuple(draw(st.lists(st.sampled_from([*REFERENCES, "hello", BAD_REF]), max_size=3)))
    e = BankEntry(BankFileFormat.CAMT054, "E", "FI2112345600000785", draw(positive_cents), "EUR",
                  CreditDebit.CREDIT, date(2026, 2, 2), parts=parts, unstructured=(" ".join(ustrd),) if ustrd else ())
    items = [OpenItem(f"INV{i}", draw(st.sampled_from(REFERENCES)), draw(st.sampled_from(["C1", "C2"])),
                      draw(cents), date(2026, 1, draw(st.integers(1, 28)))) for i in range(draw(st.integers(0, 6)))]
    return e, items


@settings(max_examples=400, deadline=None)
@given(payments())
def test_money_is_conserved_and_no_invoice_gets_more_than_it_owes(case: tuple[BankEntry, list[OpenItem]]) -> None:
    e, items = case
    decision = allocate(e, account=OURS, open_items=items)
    assert decision.allocated_total + decision.credit_total + decision.unmatched_total == e.amount
    owed = {i.invoice: i.open_amount for i in items}
    for a in decision.allocations:
        assert a.amount > 0
        assert a.amount <= owed[a.invoice]
        owed[a.invoice] -= a.amount
    assert all(c.amount > 0 for c in decision.credits) and all(u.amount > 0 for u in decision.unmatched)
    # Money is never parked as credit or unmatched while a matched invoice still has an open amount.
    matched = set(e.valid_references())
    still_open = sum((owed[i.invoice] for i in items if i.reference in matched), Decimal(0))
    if still_open > 0:
        assert decision.credit_total == 0


@settings(max_examples=200, deadline=None)
@given(payments())
def test_a_reversal_always_nets_to_zero_with_its_original(case: tuple[BankEntry, list[OpenItem]]) -> None:
    e, items = case
    original = allocate(e, account=OURS, open_items=items)
    back = BankEntry(e.source_format, "R", e.account, e.amount, "EUR", CreditDebit.DEBIT, e.booking_date,
                     reversal=True, parts=e.parts, unstructured=e.unstructured)
    reversal = allocate(back, account=OURS, original=original)
    assert reversal.allocated_total + reversal.credit_total + reversal.unmatched_total == -e.amount
    net: dict[str, Decimal] = {}
    for a in (*original.allocations, *reversal.allocations):
        net[a.invoice] = net.get(a.invoice, Decimal(0)) + a.amount
    assert all(v == 0 for v in net.values())
