"""The bulk import decides every entry of a mixed bank file exactly as the allocation rules do one entry at a
time (``gateway.payments.core.allocation.allocate`` against the invoices' open amounts at that point), on
SQLite and PostgreSQL: partial payments, overpayments (customer credit), unknown and broken references, no
reference, several parts with stated amounts, an account that is not ours, repeated entries and reversals.

The model below keeps the open amounts in memory and asks ``allocate`` for each entry in file order; the
import looks invoices up in bulk, stores in bulk and recomputes the ledger once. Both must end the same: each
stored entry's decision, the counts, every invoice's paid amount and payment status, and each customer's
credit.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.core.reference import national_reference
from gateway.payments.bank_samples import SampleEntry, SamplePart
from gateway.payments.bankfiles import BankFile
from gateway.payments.core.allocation import (
    AccountStatus,
    Decision,
    DecisionStatus,
    OpenItem,
    allocate,
)
from gateway.payments.core.entries import BankEntry
from gateway.payments.importing import decision_to_json, import_bank_file
from gateway.store.billing_tables import BillingAdjustmentRow, InvoiceRow
from gateway.store.payments_tables import BankEntryRow
from tests.support.receivables import FOREIGN_IBAN, RETAIL_IBAN, add_customer, add_invoice, camt054, load_demo_catalogue

PAID_ON = date(2026, 4, 20)
DUE = date(2026, 4, 16)
CENT = Decimal("0.01")
_examples = itertools.count(1)  # every example gets its own invoice numbers, entry refs and customers
_catalogued: set[str] = set()  # the databases (one per backend) that have the demo catalogue

amounts = st.integers(min_value=1, max_value=30_000).map(lambda cents: Decimal(cents) / 100)
# One spec per entry: (kind, invoice index, amount, second invoice index, second amount, earlier entry index).
specs = st.tuples(
    st.sampled_from(["pay", "pay_text", "bad_check_digit", "unknown_reference", "no_reference", "two_parts",
                     "reverse", "repeat"]),
    st.integers(0, 3), amounts, st.integers(0, 3), amounts, st.integers(0, 20))


@dataclass
class Model:
    """The rules applied one entry at a time: open amounts, stored credits, entries that can be reversed."""

    open: dict[str, Decimal]  # invoice id → open amount
    due: dict[str, date]
    customer: dict[str, str]
    by_reference: dict[str, str]  # national reference → invoice id
    account: AccountStatus
    stored: list[tuple[BankEntry, Decision]] = field(default_factory=list)
    reversed: set[str] = field(default_factory=set)
    decisions: dict[str, Decision] = field(default_factory=dict)
    credits: dict[str, Decimal] = field(default_factory=dict)
    repeated: int = 0

    def decide(self, entry: BankEntry) -> None:
        if entry.entry_ref in self.decisions:
            self.repeated += 1
            return
        if entry.reversal and self.account is AccountStatus.OURS:
            decision = allocate(entry, account=AccountStatus.OURS, original=self._original(entry))
        else:
            items = [OpenItem(self.by_reference[r], r, self.customer[self.by_reference[r]],
                              self.open[self.by_reference[r]], self.due[self.by_reference[r]])
                     for r in entry.valid_references() if r in self.by_reference]
            decision = allocate(entry, account=self.account, open_items=items)
        for a in decision.allocations:
            self.open[a.invoice] -= a.amount
        for c in decision.credits:
            self.credits[c.customer] = self.credits.get(c.customer, Decimal(0)) + c.amount
        self.decisions[entry.entry_ref] = decision
        self.stored.append((entry, decision))

    def _original(self, reversal: BankEntry) -> Decision | None:
        """The newest earlier credit with the same amount and first reference that nothing reversed yet."""
        wanted = (reversal.valid_references() or reversal.reference_texts() or (None,))[0]
        for entry, decision in reversed(self.stored):
            first = (entry.valid_references() or entry.reference_texts() or (None,))[0]
            if (not entry.reversal and entry.amount == reversal.amount and entry.entry_ref not in self.reversed
                    and (wanted is None or first == wanted)):
                self.reversed.add(entry.entry_ref)
                return decision
        return None


def build_file(example: int, totals: list[Decimal], raw: list[tuple[str, int, Decimal, int, Decimal, int]]
               ) -> list[SampleEntry]:
    numbers = [f"7{example:04d}{i:02d}" for i in range(len(totals))]
    entries: list[SampleEntry] = []
    for n, (kind, i, amount, j, amount2, earlier) in enumerate(raw):
        i, j = i % len(totals), j % len(totals)
        ref_i, ref_j = national_reference(numbers[i]), national_reference(numbers[j])
        entry_ref = f"P{example}-{n}"
        if kind == "pay":
            entries.append(SampleEntry(entry_ref, amount, PAID_ON, parts=[SamplePart(ref_i)]))
        elif kind == "pay_text":
            entries.append(SampleEntry(entry_ref, amount, PAID_ON, unstructured=[f"lasku viite {ref_i}"]))
        elif kind == "bad_check_digit":
            bad = ref_i[:-1] + str((int(ref_i[-1]) + 1) % 10)
            entries.append(SampleEntry(entry_ref, amount, PAID_ON, parts=[SamplePart(bad)]))
        elif kind == "unknown_reference":
            entries.append(SampleEntry(entry_ref, amount, PAID_ON,
                                       parts=[SamplePart(national_reference(f"9{example:04d}{n:02d}"))]))
        elif kind == "no_reference":
            entries.append(SampleEntry(entry_ref, amount, PAID_ON, unstructured=["lahja"]))
        elif kind == "two_parts":
            entries.append(SampleEntry(entry_ref, amount + amount2, PAID_ON,
                                       parts=[SamplePart(ref_i, amount), SamplePart(ref_j, amount2)]))
        elif entries:  # reverse or repeat an earlier entry of this file
            original = entries[earlier % len(entries)]
            if kind == "repeat":
                entries.append(original)
            elif original.credit and not original.reversal and original.parts:
                entries.append(SampleEntry(f"{entry_ref}-BACK", original.amount, PAID_ON, parts=original.parts[:1],
                                           credit=False, reversal=True))
    return entries


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(totals=st.lists(amounts, min_size=1, max_size=4), raw=st.lists(specs, min_size=1, max_size=14),
       ours=st.integers(0, 5))
def test_the_bulk_import_allocates_as_the_rules_do_entry_by_entry(
        engine: Engine, totals: list[Decimal], raw: list[tuple[str, int, Decimal, int, Decimal, int]],
        ours: int) -> None:
    example = next(_examples)
    if str(engine.url) not in _catalogued:
        load_demo_catalogue(engine)
        _catalogued.add(str(engine.url))
    with Session(engine) as s, s.begin():
        customers = [str(add_customer(s, 2 * example)), str(add_customer(s, 2 * example + 1))]
        ids = [str(add_invoice(s, f"7{example:04d}{i:02d}", f"{total:.2f}", DUE - timedelta(days=i),
                               int(customers[i % 2]))) for i, total in enumerate(totals)]
    entries = build_file(example, totals, raw)
    if not entries:
        return
    iban = RETAIL_IBAN if ours else FOREIGN_IBAN  # now and then a file for an account that is not ours
    data = camt054(entries, iban=iban, message_id=f"PROP{example}")

    parsed = list(BankFile.from_bytes("model.xml", data).entries())
    assert [(e.entry_ref, e.amount, e.reversal) for e in parsed] == [
        (s.entry_ref, s.amount, s.reversal) for s in entries]
    model = Model(open=dict(zip(ids, totals, strict=True)), due={i: DUE - timedelta(days=n) for n, i in enumerate(ids)},
                  customer={i: customers[n % 2] for n, i in enumerate(ids)},
                  by_reference={national_reference(f"7{example:04d}{n:02d}"): i for n, i in enumerate(ids)},
                  account=AccountStatus.OURS if ours else AccountStatus.NOT_OURS)
    for entry in parsed:
        model.decide(entry)

    result = import_bank_file(engine, f"prop{example}.xml", data)

    decided = list(model.decisions.values())
    assert (result.entries, result.already_imported) == (len(parsed), model.repeated)
    assert result.allocated == sum(d.status in (DecisionStatus.ALLOCATED, DecisionStatus.REVERSED) for d in decided)
    assert result.unmatched == len(decided) - result.allocated
    with Session(engine) as s:
        stored = {row.entry_ref: row for row in s.execute(select(BankEntryRow).where(
            col(BankEntryRow.file_id) == result.file_id)).scalars()}
        assert {ref: (row.status, row.decision) for ref, row in stored.items()} == {
            ref: (d.status.value, decision_to_json(d)) for ref, d in model.decisions.items()}
        for invoice_id, total in zip(ids, totals, strict=True):
            row = s.get(InvoiceRow, int(invoice_id))
            assert row is not None
            paid = total - model.open[invoice_id]
            status = "paid" if model.open[invoice_id] <= 0 else "partially_paid" if paid > 0 else "unpaid"
            assert (row.paid_amount, row.payment_status) == (f"{paid.quantize(CENT)}", status)
        credits: dict[str, Decimal] = {}
        for adjustment in s.execute(select(BillingAdjustmentRow).where(
                col(BillingAdjustmentRow.source).startswith(f"bank entry P{example}-"))).scalars():
            assert adjustment.kind == "credit"
            credits[str(adjustment.customer_id)] = credits.get(str(adjustment.customer_id), Decimal(0)) - Decimal(
                adjustment.amount)
        assert credits == {c: amount for c, amount in model.credits.items() if amount or c in credits}
