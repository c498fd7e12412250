"""Importing bank payment files on SQLite and PostgreSQL: each camt.054 / KTL case ends where the allocation
rules say, re-imports change nothing, reversals undo their original, invalid files store nothing, the unmatched
queue is never dropped and a person can allocate it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.core.reference import national_reference, rf_reference
from gateway.payments.bank_samples import SampleEntry, SamplePart
from gateway.payments.bankfiles import BankFileError
from gateway.payments.importing import import_bank_file
from gateway.payments.service import (
    PaymentInputError,
    allocate_manually,
    list_unmatched,
    payments_of_invoice,
    receivables_summary,
)
from gateway.store.billing_tables import BillingAdjustmentRow, InvoiceRow
from gateway.store.payments_tables import (
    BankEntryRow,
    BankFileRow,
    PaymentAllocationRow,
    ProviderRequestRow,
    UnmatchedPaymentRow,
)
from outbox.schema import outbox_message
from tests.support.receivables import (
    FOREIGN_IBAN,
    RETAIL_IBAN,
    add_customer,
    add_invoice,
    camt054,
    load_demo_catalogue,
)

BANK = Path(__file__).resolve().parents[1] / "fixtures" / "bank"
DUE = date(2026, 4, 16)
PAID_ON = date(2026, 4, 20)


def ref(number: str) -> str:
    return national_reference(number)


@pytest.fixture
def invoices(engine: Engine) -> dict[str, int]:
    load_demo_catalogue(engine)
    with Session(engine) as s, s.begin():
        consumer, business = add_customer(s, 1), add_customer(s, 2, business=True)
        return {
            "100000001": add_invoice(s, "100000001", "100.00", DUE, consumer),
            "100000002": add_invoice(s, "100000002", "50.00", date(2026, 4, 10), consumer),
            "100000003": add_invoice(s, "100000003", "80.00", DUE, business, customer_type="business"),
            "100000004": add_invoice(s, "100000004", "40.00", DUE, consumer),
        }


def entry(ref_: str, amount: str, *, parts: list[SamplePart] | None = None, unstructured: list[str] | None = None,
          reference: str | None = None, **kw: object) -> SampleEntry:
    return SampleEntry(ref_, Decimal(amount), PAID_ON, parts=parts if parts is not None else (
        [SamplePart(reference)] if reference else []), unstructured=unstructured or [], **kw)  # type: ignore[arg-type]


def invoice(engine: Engine, invoice_id: int) -> InvoiceRow:
    with Session(engine) as s:
        row = s.get(InvoiceRow, invoice_id)
        assert row is not None
        return row


@pytest.mark.parametrize("parallel", [False, True], ids=["read-in-process", "read-by-a-helper-process"])
def test_each_case_ends_where_the_rules_say(engine: Engine, invoices: dict[str, int], parallel: bool) -> None:
    bad = ref("100000001")[:-1] + str((int(ref("100000001")[-1]) + 1) % 10)
    data = camt054([
        entry("E1", "100.00", reference=ref("100000001")),  # exact
        entry("E2", "20.00", unstructured=[f"sähkölasku viite {ref('100000002')} kiitos"]),  # Ustrd only, partial
        entry("E3", "12.00", reference=bad),  # invalid check digit
        entry("E4", "7.00", unstructured=["ei viitettä"]),  # no reference
        entry("E5", "100.00", reference=rf_reference(ref("100000003"))),  # RF, overpayment of 20.00
        entry("E6", "9.00", reference=ref("999999999")),  # valid reference, no invoice
    ])
    result = import_bank_file(engine, "cases.xml", data, parallel=parallel)
    assert result.to_json() == {"file": "cases.xml", "format": "camt.054", "entries": 6, "allocated": 3,
                                "unmatched": 3, "already_imported": 0}
    assert (invoice(engine, invoices["100000001"]).payment_status, invoice(engine, invoices["100000001"]).paid_amount
            ) == ("paid", "100.00")
    assert invoice(engine, invoices["100000002"]).payment_status == "partially_paid"
    assert invoice(engine, invoices["100000003"]).payment_status == "paid"
    with Session(engine) as s:
        queue = {(u["reference"], u["reason"], u["amount"]) for u in list_unmatched(s)}
        credit = s.execute(select(BillingAdjustmentRow)).scalar_one()
        assert payments_of_invoice(s, invoices["100000002"])[0]["amount"] == "20.00"
        requests = s.execute(select(ProviderRequestRow).order_by(col(ProviderRequestRow.id))).scalars().all()
        emitted = s.execute(select(outbox_message).where(
            outbox_message.c.topic == "payments.provider_request").order_by(outbox_message.c.id)).all()
    assert queue == {(bad, "invalid_reference", "12.00"), (None, "no_reference", "7.00"),
                     (ref("999999999"), "no_open_invoice", "9.00")}
    assert (credit.kind, credit.amount, credit.entity_id, credit.status) == ("credit", "-20.00", "retail", "pending")
    # Every payment put on an invoice of a provider entity is reported, in entry order, one message each.
    assert [(r.kind, r.identity, r.account, r.invoice_id, r.status, r.body) for r in requests] == [
        ("payment", f"E{n}:{number}", "ropo-retail-0001", invoices[number], "queued",
         {"amount": amount, "paydate": "2026-04-20", "identifier": f"E{n}:{number}", "type": "directpayment"})
        for n, number, amount in [(1, "100000001", "100.00"), (2, "100000002", "20.00"), (5, "100000003", "80.00")]]
    assert [(m.payload, m.key) for m in emitted] == [
        ({"request_id": r.id}, f"invoice:{r.invoice_id}") for r in requests]
    assert len({m.message_id for m in emitted}) == 3 and all(len(m.message_id) == 36 for m in emitted)


def test_reimporting_changes_nothing_and_counts_already_imported(engine: Engine, invoices: dict[str, int]) -> None:
    first = camt054([entry("A1", "30.00", reference=ref("100000001")), entry("A2", "5.00", reference="x")])
    overlapping = camt054([entry("A2", "5.00", reference="x"), entry("A3", "70.00", reference=ref("100000001"))])
    assert import_bank_file(engine, "a.xml", first).to_json()["allocated"] == 1
    again = import_bank_file(engine, "a.xml", first)
    assert (again.entries, again.allocated, again.unmatched, again.already_imported) == (2, 0, 0, 2)
    more = import_bank_file(engine, "b.xml", overlapping)
    assert (more.allocated, more.unmatched, more.already_imported) == (1, 0, 1)
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(BankEntryRow)).scalar_one() == 3
        assert len(list_unmatched(s)) == 1
        files = s.execute(select(BankFileRow).order_by(col(BankFileRow.id))).scalars().all()
    assert [f.already_imported for f in files] == [0, 2, 1] and files[0].content == first
    assert invoice(engine, invoices["100000001"]).payment_status == "paid"


def test_one_payment_for_several_invoices_and_several_for_one(engine: Engine, invoices: dict[str, int]) -> None:
    import_bank_file(engine, "several.xml", camt054([
        entry("S1", "90.00", parts=[SamplePart(ref("100000001"), Decimal("60.00")),
                                    SamplePart(ref("100000004"), Decimal("30.00"))]),
        entry("S2", "40.00", reference=ref("100000001")),
        entry("S3", "10.00", reference=ref("100000004")),
    ]))
    first, fourth = invoice(engine, invoices["100000001"]), invoice(engine, invoices["100000004"])
    assert (first.paid_amount, first.payment_status) == ("100.00", "paid")
    assert (fourth.paid_amount, fourth.payment_status) == ("40.00", "paid")


def test_money_put_on_an_invoice_is_reported_even_when_the_rest_of_its_entry_is_unmatched(
        engine: Engine, invoices: dict[str, int]) -> None:
    bad = ref("100000004")[:-1] + str((int(ref("100000004")[-1]) + 1) % 10)
    result = import_bank_file(engine, "mixed.xml", camt054([
        entry("X1", "70.00", parts=[SamplePart(ref("100000001"), Decimal("60.00")), SamplePart(bad, Decimal("10.00"))]),
    ]))
    assert (result.allocated, result.unmatched) == (0, 1)  # an entry with any unmatched money counts as unmatched
    with Session(engine) as s:
        reports = [(r.invoice_id, r.body["amount"]) for r in s.execute(select(ProviderRequestRow)).scalars()]
    assert reports == [(invoices["100000001"], "60.00")]


def test_a_reversal_undoes_its_original(engine: Engine, invoices: dict[str, int]) -> None:
    import_bank_file(engine, "in.xml", camt054([entry("R1", "100.00", reference=ref("100000001")),
                                                entry("R2", "3.00", unstructured=["lahja"])]))
    result = import_bank_file(engine, "back.xml", camt054([
        entry("R1-BACK", "100.00", reference=ref("100000001"), credit=False, reversal=True),
        entry("R2-BACK", "3.00", unstructured=["lahja"], credit=False, reversal=True),
        entry("R9-BACK", "1.00", reference=ref("100000004"), credit=False, reversal=True),  # no original
    ]))
    assert (result.allocated, result.unmatched) == (2, 1)
    row = invoice(engine, invoices["100000001"])
    assert (row.paid_amount, row.payment_status) == ("0.00", "unpaid")
    with Session(engine) as s:
        amounts = sorted(a for a in s.execute(select(col(PaymentAllocationRow.amount)).where(
            col(PaymentAllocationRow.invoice_id) == invoices["100000001"])).scalars())
        queue = s.execute(select(UnmatchedPaymentRow).order_by(col(UnmatchedPaymentRow.id))).scalars().all()
        original = s.execute(select(BankEntryRow).where(col(BankEntryRow.entry_ref) == "R1")).scalar_one()
    assert amounts == ["-100.00", "100.00"] and original.reversed_by_entry_id is not None
    assert [(u.reason, u.amount, u.status) for u in queue] == [
        ("no_reference", "3.00", "reversed"), ("original_not_found", "-1.00", "open")]


def test_an_account_not_ours_or_failing_its_check_is_an_unmatched_entry_even_without_a_catalogue(
        engine: Engine) -> None:
    result = import_bank_file(engine, "other.xml", camt054([entry("O1", "9.00", reference=ref("100000001"))],
                                                           iban=FOREIGN_IBAN))
    assert (result.entries, result.unmatched) == (1, 1)
    ours_without_catalogue = import_bank_file(engine, "ours.xml", camt054(
        [entry("O2", "9.00", reference=ref("100000001"))], iban=RETAIL_IBAN))
    assert ours_without_catalogue.unmatched == 1
    broken = import_bank_file(engine, "bad-iban.xml", camt054([entry("O3", "4.00")], iban="FI2112345600000786"))
    assert broken.unmatched == 1
    with Session(engine) as s:
        reasons = [u["reason"] for u in list_unmatched(s)]
    assert reasons == ["unknown_account", "unknown_account", "invalid_account"]


@pytest.mark.parametrize("name", sorted(p.name for p in BANK.glob("invalid-*")))
def test_an_invalid_file_is_refused_and_nothing_of_it_is_stored(engine: Engine, name: str) -> None:
    with pytest.raises(BankFileError):
        import_bank_file(engine, name, (BANK / name).read_bytes())
    with Session(engine) as s:
        for table in (BankFileRow, BankEntryRow, UnmatchedPaymentRow):
            assert s.execute(select(func.count()).select_from(table)).scalar_one() == 0


def test_an_invalid_file_read_by_a_helper_process_stores_nothing(engine: Engine, invoices: dict[str, int]) -> None:
    name = "invalid-camt054-schema-no-credit-debit.xml"
    with pytest.raises(BankFileError, match=r"BANK\.XML_INVALID"):
        import_bank_file(engine, name, (BANK / name).read_bytes(), parallel=True)
    with Session(engine) as s:
        for table in (BankFileRow, BankEntryRow, UnmatchedPaymentRow, ProviderRequestRow):
            assert s.execute(select(func.count()).select_from(table)).scalar_one() == 0


@pytest.mark.parametrize("name", ["camt054-real-handelsbanken-finland-example.xml",
                                  "ktl-real-django-jbank-547392460.svm", "camt054-valid-cases.xml",
                                  "ktl-valid-cases.ktl", "camt054-valid-unknown-iban.xml"])
def test_the_sample_files_import_cleanly(engine: Engine, invoices: dict[str, int], name: str) -> None:
    data = (BANK / name).read_bytes()
    result = import_bank_file(engine, name, data)
    assert result.entries > 0 and result.entries == result.allocated + result.unmatched
    again = import_bank_file(engine, name, data)
    assert again.already_imported == result.entries and again.allocated == again.unmatched == 0


def test_manual_allocation_from_the_queue(engine: Engine, invoices: dict[str, int]) -> None:
    import_bank_file(engine, "m.xml", camt054([entry("M1", "70.00", unstructured=["lasku 100000001"])]))
    with Session(engine) as s:
        [item] = list_unmatched(s)
    with Session(engine) as s, s.begin(), pytest.raises(PaymentInputError, match=r"only 70\.00"):
        allocate_manually(s, item["id"], "100000001", Decimal("80.00"))
    with Session(engine) as s, s.begin():
        done = allocate_manually(s, item["id"], "100000001", Decimal("50.00"))
    assert (done.amount, done.remaining, done.payment_status) == (Decimal("50.00"), Decimal("20.00"),
                                                                  "partially_paid")
    with Session(engine) as s, s.begin():
        rest = allocate_manually(s, item["id"], "100000004")
    assert rest.amount == Decimal("20.00") and rest.remaining == 0
    with Session(engine) as s:
        assert list_unmatched(s) == []
        summary = receivables_summary(s)
    assert summary["unmatched"] == {"items": 0, "amount": "0.00"}
    assert summary["invoices"]["partially_paid"]["invoices"] == 2
