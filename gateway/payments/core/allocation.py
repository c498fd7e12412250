"""Deciding where one bank entry's money goes: a pure function of the entry and the invoices its
references point at.

Order of the rules (DOMAIN §5.2):

1. An entry seen before (same bank entry reference) changes nothing: ``already_imported``.
2. Not a customer payment in euros to one of our accounts → the whole amount is unmatched with the reason
   (``invalid_account`` when the IBAN fails its check, ``unknown_account`` when it is not ours,
   ``foreign_currency``, ``not_a_payment`` for a debit that is not a reversal).
3. A reversal (a credit taken back) undoes the original entry's decision exactly; without an original it is
   unmatched (``original_not_found``).
4. References: the structured ones, else those found in the unstructured text. None at all →
   ``no_reference``; none whose check digit holds → ``invalid_reference``. A reference is trusted only when
   its check digit is valid.
5. Parts that state an amount (one ``Strd`` per invoice) pay their own reference's invoices first, up to
   each invoice's open amount; a stated part whose reference is invalid or has no invoice is unmatched for
   that amount.
6. The rest pays the matched invoices oldest due date first (partial payment when it is not enough;
   several payments for one invoice simply follow each other).
7. What is left after every matched invoice is paid is an overpayment: a credit to the customer of the
   first matched invoice (the next invoice uses it). With no invoice behind any reference it is unmatched
   (``no_open_invoice``).

Invariants (property-tested): allocated + credit + unmatched = the entry's signed amount, and no invoice
receives more than its open amount.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from stdnum import iban as stdnum_iban

from gateway.payments.core.entries import BankEntry, CreditDebit

ZERO = Decimal("0.00")
EURO = "EUR"


class UnmatchedReason(StrEnum):
    UNKNOWN_ACCOUNT = "unknown_account"
    INVALID_ACCOUNT = "invalid_account"
    NO_REFERENCE = "no_reference"
    INVALID_REFERENCE = "invalid_reference"
    NO_OPEN_INVOICE = "no_open_invoice"
    ALREADY_IMPORTED = "already_imported"
    ORIGINAL_NOT_FOUND = "original_not_found"
    NOT_A_PAYMENT = "not_a_payment"
    FOREIGN_CURRENCY = "foreign_currency"


class AccountStatus(StrEnum):
    OURS = "ours"
    NOT_OURS = "not_ours"
    INVALID = "invalid"


class DecisionStatus(StrEnum):
    ALLOCATED = "allocated"  # every cent went to invoices or customer credit
    PARTLY_UNMATCHED = "partly_unmatched"
    UNMATCHED = "unmatched"
    REVERSED = "reversed"
    ALREADY_IMPORTED = "already_imported"


@dataclass(frozen=True, slots=True)
class OpenItem:
    """An invoice that one of the entry's references points at. ``open_amount`` 0 = known but paid."""

    invoice: str
    reference: str
    customer: str
    open_amount: Decimal
    due_date: date

    def __post_init__(self) -> None:
        if self.open_amount < 0:
            raise ValueError(f"invoice {self.invoice}: open amount must not be negative")


@dataclass(frozen=True, slots=True)
class Allocation:
    invoice: str
    reference: str
    amount: Decimal  # negative when a reversal takes it back


@dataclass(frozen=True, slots=True)
class CustomerCredit:
    customer: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Unmatched:
    amount: Decimal
    reason: UnmatchedReason
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """Where the entry's money went. ``amount`` is the signed amount accounted for (0 for a no-op)."""

    entry_ref: str
    amount: Decimal
    allocations: tuple[Allocation, ...] = ()
    credits: tuple[CustomerCredit, ...] = ()
    unmatched: tuple[Unmatched, ...] = ()
    already_imported: bool = False
    reversal_of: str | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def allocated_total(self) -> Decimal:
        return sum((a.amount for a in self.allocations), ZERO)

    @property
    def credit_total(self) -> Decimal:
        return sum((c.amount for c in self.credits), ZERO)

    @property
    def unmatched_total(self) -> Decimal:
        return sum((u.amount for u in self.unmatched), ZERO)

    @property
    def status(self) -> DecisionStatus:
        if self.already_imported:
            return DecisionStatus.ALREADY_IMPORTED
        if self.reversal_of is not None:
            return DecisionStatus.REVERSED
        if not self.unmatched:
            return DecisionStatus.ALLOCATED
        return DecisionStatus.UNMATCHED if not (self.allocations or self.credits) else DecisionStatus.PARTLY_UNMATCHED

    @property
    def reason(self) -> UnmatchedReason | None:
        """The first reason money stayed unmatched (the queue shows it), or None."""
        return self.unmatched[0].reason if self.unmatched else None


def classify_account(account: str, own_accounts: Iterable[str]) -> AccountStatus:
    """Whether an entry's receiving account is one of ours (IBANs compared in compact form)."""
    compact = stdnum_iban.compact(account)
    if not stdnum_iban.is_valid(compact):
        return AccountStatus.INVALID
    return AccountStatus.OURS if compact in {stdnum_iban.compact(a) for a in own_accounts} else AccountStatus.NOT_OURS


def allocate(
    entry: BankEntry,
    *,
    account: AccountStatus,
    open_items: Sequence[OpenItem] = (),
    already_imported: bool = False,
    original: Decision | None = None,
) -> Decision:
    """The decision for ``entry``. ``open_items`` are the invoices behind the entry's references (the caller
    looks them up by ``entry.valid_references()``); ``original`` is the earlier entry a reversal undoes."""
    if already_imported:
        return Decision(entry.entry_ref, ZERO, already_imported=True)
    signed = entry.signed_amount
    first_reference = next(iter(entry.reference_texts()), None)
    if account is AccountStatus.INVALID:
        return _unmatched(entry, signed, UnmatchedReason.INVALID_ACCOUNT, first_reference)
    if account is AccountStatus.NOT_OURS:
        return _unmatched(entry, signed, UnmatchedReason.UNKNOWN_ACCOUNT, first_reference)
    if entry.currency != EURO:
        return _unmatched(entry, signed, UnmatchedReason.FOREIGN_CURRENCY, first_reference)
    if entry.reversal and entry.credit_debit is CreditDebit.DEBIT:
        return _reverse(entry, original, first_reference)
    if entry.reversal or entry.credit_debit is CreditDebit.DEBIT:
        return _unmatched(entry, signed, UnmatchedReason.NOT_A_PAYMENT, first_reference)
    return _allocate_payment(entry, open_items)


def _unmatched(entry: BankEntry, amount: Decimal, reason: UnmatchedReason, reference: str | None) -> Decision:
    return Decision(entry.entry_ref, amount, unmatched=(Unmatched(amount, reason, reference),))


def _reverse(entry: BankEntry, original: Decision | None, reference: str | None) -> Decision:
    if (original is None or original.already_imported or original.reversal_of is not None
            or original.amount != entry.amount):
        return _unmatched(entry, -entry.amount, UnmatchedReason.ORIGINAL_NOT_FOUND, reference)
    return Decision(
        entry.entry_ref,
        -entry.amount,
        allocations=tuple(Allocation(a.invoice, a.reference, -a.amount) for a in original.allocations),
        credits=tuple(CustomerCredit(c.customer, -c.amount) for c in original.credits),
        unmatched=tuple(Unmatched(-u.amount, u.reason, u.reference) for u in original.unmatched),
        reversal_of=original.entry_ref,
    )


def _allocate_payment(entry: BankEntry, open_items: Sequence[OpenItem]) -> Decision:
    given = entry.reference_texts()
    if not given:
        return _unmatched(entry, entry.amount, UnmatchedReason.NO_REFERENCE, None)
    valid = entry.valid_references()
    if not valid:
        return _unmatched(entry, entry.amount, UnmatchedReason.INVALID_REFERENCE, given[0])

    by_reference: dict[str, list[OpenItem]] = {reference: [] for reference in valid}
    for item in open_items:
        if item.reference in by_reference:
            by_reference[item.reference].append(item)
    for items in by_reference.values():
        items.sort(key=lambda i: (i.due_date, i.invoice))
    open_left: dict[str, Decimal] = {}
    for items in by_reference.values():
        for item in items:
            open_left.setdefault(item.invoice, item.open_amount)

    ledger = _Ledger(entry.amount, open_left)
    # Parts with a stated amount pay their own reference's invoices first.
    for part in entry.parts:
        if part.amount is None or part.reference_text is None or ledger.remaining <= 0:
            continue
        stated = min(part.amount, ledger.remaining)
        if stated <= 0:
            continue
        reference = part.reference
        if reference is None:
            ledger.leave_unmatched(stated, UnmatchedReason.INVALID_REFERENCE, part.reference_text)
        elif not by_reference.get(reference):
            ledger.leave_unmatched(stated, UnmatchedReason.NO_OPEN_INVOICE, reference)
        else:
            ledger.pay(by_reference[reference], stated)
    # The rest pays every matched invoice, oldest due date first.
    matched = sorted((i for items in by_reference.values() for i in items), key=lambda i: (i.due_date, i.invoice))
    ledger.pay(matched, ledger.remaining)
    if ledger.remaining > 0:
        first_matched = next((items[0] for items in by_reference.values() if items), None)
        if first_matched is not None:
            ledger.credit(first_matched.customer, ledger.remaining)
        else:
            ledger.leave_unmatched(ledger.remaining, UnmatchedReason.NO_OPEN_INVOICE, valid[0])
    return Decision(entry.entry_ref, entry.amount, allocations=ledger.allocations(), credits=ledger.credits(),
                    unmatched=tuple(ledger.unmatched))


class _Ledger:
    """The running state of one payment's allocation."""

    def __init__(self, amount: Decimal, open_left: Mapping[str, Decimal]) -> None:
        self.remaining = amount
        self._open = dict(open_left)
        self._allocated: dict[tuple[str, str], Decimal] = {}
        self._credited: dict[str, Decimal] = {}
        self.unmatched: list[Unmatched] = []

    def pay(self, items: Iterable[OpenItem], budget: Decimal) -> None:
        budget = min(budget, self.remaining)
        for item in items:
            if budget <= 0:
                return
            give = min(budget, self._open[item.invoice])
            if give <= 0:
                continue
            key = (item.invoice, item.reference)
            self._allocated[key] = self._allocated.get(key, ZERO) + give
            self._open[item.invoice] -= give
            budget -= give
            self.remaining -= give

    def credit(self, customer: str, amount: Decimal) -> None:
        self._credited[customer] = self._credited.get(customer, ZERO) + amount
        self.remaining -= amount

    def leave_unmatched(self, amount: Decimal, reason: UnmatchedReason, reference: str | None) -> None:
        self.unmatched.append(Unmatched(amount, reason, reference))
        self.remaining -= amount

    def allocations(self) -> tuple[Allocation, ...]:
        return tuple(Allocation(invoice, reference, amount) for (invoice, reference), amount in self._allocated.items())

    def credits(self) -> tuple[CustomerCredit, ...]:
        return tuple(CustomerCredit(customer, amount) for customer, amount in self._credited.items())
