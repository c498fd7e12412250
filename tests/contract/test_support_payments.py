"""Receivables as support staff and the billing core see them, on SQLite and PostgreSQL: payments and the
unmatched queue with their filters and keyset pages, bank files and provider calls and webhook batches in the
message log (with their exact payloads), lineage from a bank file to the invoices it paid and back, and manual
allocation (the CLI's service, audited, refusing what does not fit).

The store is the support scenario: March 2026 billed and corrected, then a camt.054 to the retail company's
account paid 10.00 € of the corrected retail invoice and brought 25.00 € under a reference no invoice has.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.access.users import authenticate_token
from gateway.billing.core.reference import format_national, rf_reference
from gateway.payments.manual import allocate_as
from gateway.payments.service import AllocationRefused, PaymentInputError, UnknownUnmatched
from gateway.payments.status_updates import Stored
from gateway.payments.webhook import archive_batch
from gateway.queries import invoices, lineage, payments
from gateway.queries.detail import message_detail, raw_document
from gateway.queries.messages import MessageFilter, MessageRef, search_messages
from gateway.queries.pagination import BadQuery
from gateway.store.billing_tables import InvoiceRow
from gateway.store.db import make_engine
from gateway.store.payments_tables import BankFileRow
from gateway.store.support_tables import AccessAudit
from tests.support.databases import BACKENDS, fresh_database_url
from tests.support.support_data import PAID, PAID_ON, UNPLACED, UNPLACED_REFERENCE, Scenario, populate

RETAIL_ACCOUNT = "FI2112345600000785"


@pytest.fixture(scope="module", params=[pytest.param(b, marks=[getattr(pytest.mark, b)]) for b in BACKENDS])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Engine, Scenario]]:
    work = tmp_path_factory.mktemp(f"payments-{request.param}")
    with fresh_database_url(request.param, work, migrated=True) as url:
        engine = make_engine(url)
        yield engine, populate(engine, work)
        engine.dispose()


def _all_payments(session: Session, f: payments.PaymentFilter, limit: int) -> list[int]:
    found: list[int] = []
    cursor = None
    while True:
        page = payments.list_payments(session, f, limit=limit, cursor=cursor)
        found += [item["id"] for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return found


def _reference(engine: Engine, invoice_id: int) -> str:
    with Session(engine) as s:
        row = s.get(InvoiceRow, invoice_id)
        assert row is not None
        return row.reference


def test_payments_are_found_by_invoice_reference_status_and_booking_day(store: tuple[Engine, Scenario]) -> None:
    engine, sc = store
    corrected = sc.invoices["retail-corrected"]
    reference = _reference(engine, corrected)
    with Session(engine) as s:
        every = _all_payments(s, payments.PaymentFilter(), 50)
        assert len(every) == 2 and sc.payment_id in every and every == sorted(every, reverse=True)
        assert _all_payments(s, payments.PaymentFilter(), 1) == every  # keyset pages of one: nothing twice
        paid = payments.PaymentFilter(invoice_id=corrected)
        assert _all_payments(s, paid, 50) == [sc.payment_id]
        for written in (reference, format_national(reference), rf_reference(reference)):
            assert _all_payments(s, payments.PaymentFilter(reference=written), 50) == [sc.payment_id], written
        unplaced = _all_payments(s, payments.PaymentFilter(status="unmatched"), 50)
        assert unplaced == [i for i in every if i != sc.payment_id]
        assert _all_payments(s, payments.PaymentFilter(since=PAID_ON, until=PAID_ON), 50) == every
        assert _all_payments(s, payments.PaymentFilter(since=PAID_ON.replace(day=5)), 50) == []
        assert _all_payments(s, payments.PaymentFilter(account=RETAIL_ACCOUNT, entity="retail"), 50) == every
        assert _all_payments(s, payments.PaymentFilter(invoice_id=sc.invoices["distribution"]), 50) == []
    for bad in ({"reference": "1233"}, {"status": "lost"}):
        with pytest.raises(BadQuery):
            payments.PaymentFilter(**bad)  # type: ignore[arg-type]
    with Session(engine) as s, pytest.raises(BadQuery):
        payments.list_payments(s, payments.PaymentFilter(), limit=5, cursor="bm90LWEtY3Vyc29y")


def test_a_payment_shows_where_its_money_went_and_the_bank_file_it_came_in(store: tuple[Engine, Scenario]) -> None:
    engine, sc = store
    corrected = sc.invoices["retail-corrected"]
    with Session(engine) as s:
        found = payments.payment(s, sc.payment_id)
        number = s.get(InvoiceRow, corrected).number  # type: ignore[union-attr]
        assert payments.payment(s, 10**12) is None
    assert found is not None
    assert (found["amount"], found["status"], found["booking_date"], found["payer"]) == (
        f"{PAID}", "allocated", PAID_ON.isoformat(), "ASIAKAS ANNA")
    assert [(a["kind"], a["invoice_id"], a["invoice_number"], a["amount"], a["source"])
            for a in found["allocations"]] == [("invoice", corrected, number, f"{PAID}", "bank")]
    assert found["unmatched"] == []
    assert found["bank_file"]["message"] == sc.ids["bank"] == found["message"]
    assert found["bank_file"]["format"] == "camt.054" and found["bank_file"]["entries"] == 2


def test_the_unmatched_queue_lists_open_money_with_its_reason_and_origin(store: tuple[Engine, Scenario]) -> None:
    engine, sc = store
    with Session(engine) as s:
        page = payments.list_unmatched(s, limit=50, status="open")
        item = payments.unmatched(s, sc.unmatched_id)
        assert payments.list_unmatched(s, limit=50, status="reversed").items == []
        assert payments.unmatched(s, 10**12) is None
        with pytest.raises(BadQuery):
            payments.list_unmatched(s, limit=50, status="closed")
    assert [u["id"] for u in page.items] == [sc.unmatched_id]
    assert item is not None
    assert (item["amount"], item["remaining"], item["reference"], item["reason"], item["payer"]) == (
        f"{UNPLACED}", f"{UNPLACED}", UNPLACED_REFERENCE, "no_open_invoice", "TUNTEMATON TEPPO")
    assert item["payment"]["status"] == "unmatched" and item["message"] == sc.ids["bank"]
    assert item["allocations"] == []


def test_bank_files_and_provider_calls_are_in_the_message_log_with_their_payloads(
        store: tuple[Engine, Scenario]) -> None:
    engine, sc = store
    bank = MessageRef.parse(sc.ids["bank"])
    with Session(engine) as s:
        files = search_messages(s, MessageFilter(document_type="CAMT054"), limit=50).items
        calls = search_messages(s, MessageFilter(document_type="PROVIDER_PAYMENT"), limit=50).items
        inbound = [m.id for m in search_messages(s, MessageFilter(direction="inbound"), limit=500).items]
        by_name = search_messages(s, MessageFilter(message_id="support-camt054.xml"), limit=50).items
        by_party = search_messages(s, MessageFilter(party="ropo-retail-0001"), limit=50).items
        detail = message_detail(s, bank)
        raw = raw_document(s, bank)
        stored = s.get(BankFileRow, bank.pk)
        assert stored is not None
        call_detail = message_detail(s, MessageRef.parse(calls[0].id))
        call_raw = raw_document(s, MessageRef.parse(calls[0].id))
    assert [(m.id, m.direction, m.party, m.status, m.channel) for m in files] == [
        (sc.ids["bank"], "inbound", RETAIL_ACCOUNT, "imported", "cli")]
    assert sc.ids["bank"] in inbound and [m.id for m in by_name] == [sc.ids["bank"]]
    assert raw is not None and raw.data == bytes(stored.content) and raw.media_type == "application/xml"
    assert hashlib.sha256(raw.data).hexdigest() == detail["file"]["sha256"]  # type: ignore[index]
    assert detail is not None and [p["status"] for p in detail["payments"]] == ["allocated", "unmatched"]
    # The allocation queued a payment report to the provider: an outbound call, waiting for the outbox.
    corrected = sc.invoices["retail-corrected"]
    assert [(m.direction, m.party, m.status, m.extra["invoice_id"]) for m in calls] == [
        ("outbound", "ropo-retail-0001", "queued", corrected)]
    assert [m.id for m in by_party] == [calls[0].id]
    assert call_detail is not None and call_detail["provider_call"]["request"]["amount"] == f"{PAID}"
    assert call_raw is not None and json.loads(call_raw.data)["request"]["amount"] == f"{PAID}"


def test_webhook_batches_are_in_the_message_log_as_received(store: tuple[Engine, Scenario]) -> None:
    engine, _ = store
    body = b'{"batch": "b-1", "account": "ropo-retail-0001", "events": []}'
    with Session(engine) as s, s.begin():
        archive_batch(s, body, "stored", account="ropo-retail-0001", batch_id="b-1", stored=Stored(3, 1, 0))
        archive_batch(s, b"not json", "rejected", error="not a batch")
    with Session(engine) as s:
        found = search_messages(s, MessageFilter(document_type="PROVIDER_WEBHOOK"), limit=50).items
        refused = search_messages(s, MessageFilter(document_type="PROVIDER_WEBHOOK", status="rejected"),
                                  limit=50).items
        raw = raw_document(s, MessageRef.parse(found[1].id))
        detail = message_detail(s, MessageRef.parse(refused[0].id))
    assert [(m.direction, m.message_id, m.party, m.status, m.error_count) for m in found] == [
        ("inbound", None, None, "rejected", 1), ("inbound", "b-1", "ropo-retail-0001", "stored", 0)]
    assert raw is not None and raw.data == body and raw.media_type == "application/json"
    assert detail is not None and detail["errors"][0]["text"] == "not a batch"


def _lineage(session: Session, node_type: str, key: str, direction: str) -> Any:
    root = lineage.root_node(session, node_type, key)
    assert root is not None
    return lineage.downstream(session, root) if direction == "downstream" else lineage.upstream(session, root)


def test_lineage_runs_from_a_bank_file_to_the_invoices_it_paid_and_back(store: tuple[Engine, Scenario]) -> None:
    engine, sc = store
    corrected = sc.invoices["retail-corrected"]
    with Session(engine) as s:
        down = _lineage(s, "message", sc.ids["bank"], "downstream")
        up = _lineage(s, "invoice", str(corrected), "upstream")
        from_payment = _lineage(s, "payment", str(sc.payment_id), "upstream")
    edges = {(e.source, e.target, e.relation) for e in down.edges}
    allocation = next(n for n in down.of_type("allocation"))
    assert len(down.of_type("payment")) == 2 and str(sc.payment_id) in {n.key for n in down.of_type("payment")}
    assert (f"message:{sc.ids['bank']}", f"payment:{sc.payment_id}", "carries") in edges
    assert (f"payment:{sc.payment_id}", allocation.id, "allocated_as") in edges
    assert (allocation.id, f"invoice:{corrected}", "settles") in edges
    assert f"inv-{corrected}" in down.message_ids  # and on to the released document
    assert sc.ids["bank"] in up.message_ids and sc.ids["e66-late"] in up.message_ids
    assert {e.relation for e in up.edges} >= {"carries", "allocated_as", "settles", "billed_as", "on"}
    assert from_payment.message_ids == [sc.ids["bank"]]


def test_manual_allocation_puts_money_on_an_invoice_audited_and_refuses_what_does_not_fit(
        store: tuple[Engine, Scenario]) -> None:
    engine, sc = store
    corrected = sc.invoices["retail-corrected"]
    with Session(engine) as s:
        admin = authenticate_token(s, sc.tokens["billing-admin"])
        total = Decimal(s.get(InvoiceRow, corrected).total)  # type: ignore[union-attr]
    assert admin is not None
    open_amount = total - PAID
    refusals: list[tuple[dict[str, Any], type[Exception]]] = [
        ({"invoice_id": corrected, "amount": UNPLACED + 1}, AllocationRefused),  # more than the payment has
        ({"invoice_id": sc.invoices["retail-credit-note"]}, PaymentInputError),  # a credit note is not paid
        ({"invoice_number": "999999999"}, PaymentInputError),
        ({"invoice_id": corrected, "amount": Decimal("0.001")}, PaymentInputError),
    ]
    if open_amount < UNPLACED:
        refusals.append(({"invoice_id": corrected, "amount": open_amount + Decimal("0.01")}, AllocationRefused))
    for asked, error in refusals:
        with Session(engine) as s, s.begin(), pytest.raises(error):
            allocate_as(s, admin, sc.unmatched_id, **asked)
    with Session(engine) as s, s.begin(), pytest.raises(UnknownUnmatched):
        allocate_as(s, admin, 10**12, invoice_id=corrected)
    with Session(engine) as s, s.begin():
        done = allocate_as(s, admin, sc.unmatched_id, invoice_id=corrected, amount=Decimal("5.00"))
    assert (done["amount"], done["remaining"], done["invoice_id"]) == ("5.00", f"{UNPLACED - 5}", corrected)
    with Session(engine) as s:
        item = payments.unmatched(s, sc.unmatched_id)
        paid = invoices.invoice(s, corrected)
        audit = s.execute(select(AccessAudit).where(col(AccessAudit.action) == "allocate_payment")).scalars().all()
    assert item is not None and item["status"] == "open" and item["remaining"] == f"{UNPLACED - 5}"
    assert [a["amount"] for a in item["allocations"]] == ["5.00"]
    assert paid is not None and [(p["source"], p["amount"], p["message"]) for p in paid["payments"]] == [
        ("bank", f"{PAID}", sc.ids["bank"]), ("manual", "5.00", sc.ids["bank"])]
    assert paid["paid_amount"] == f"{PAID + 5}" and paid["payment_status"] == "partially_paid"
    assert [(a.user_name, a.subject_id, a.detail["amount"]) for a in audit] == [  # type: ignore[index]
        ("billing-admin-user", str(sc.unmatched_id), "5.00")]
