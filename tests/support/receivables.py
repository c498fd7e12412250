"""Invoices stored as issuing stores them (number, national and RF reference, totals), without a billing run:
for the allocation and dunning tests and the benchmark, which need many invoices with known amounts."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.billing.core.reference import national_reference, rf_reference
from gateway.payments.bank_samples import SampleEntry, write_camt054
from gateway.rating.catalogues import load_catalogue_file
from gateway.store.billing_tables import BillingCustomerRow, InvoiceRow
from gateway.store.queries import insert_rows_returning_ids
from outbox.types import utcnow
from tests.support.rating_store import DEMO_CATALOGUE

RETAIL_IBAN = "FI2112345600000785"  # the demo catalogue's retail entity (print only)
NETWORK_IBAN = "FI5810171000000122"  # distribution (full service, RF references)
OTHER_IBAN = "FI7944052020036082"  # heating's: ours too; a foreign one is below
FOREIGN_IBAN = "DE89370400440532013000"


def load_demo_catalogue(engine: Engine) -> None:
    load_catalogue_file(engine, DEMO_CATALOGUE)


def add_customer(session: Session, n: int, *, business: bool = False, street: str | None = "Kotikatu 1",
                 channel: str = "paper", e_invoice: tuple[str, str] | None = None) -> int:
    row = BillingCustomerRow(customer_key=f"test:{n}", source="own", name=f"Asiakas {n}",
                             customer_type="business" if business else "consumer", street=street, postcode="00100",
                             city="Helsinki", channel=channel, e_invoice_address=e_invoice[0] if e_invoice else None,
                             e_invoice_operator=e_invoice[1] if e_invoice else None, created_at=utcnow(),
                             updated_at=utcnow())
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def invoice_row(number: str, *, entity: str = "retail", total: Decimal, due: date, customer_id: int,
                customer_type: str = "consumer", kind: str = "invoice", original_invoice_id: int | None = None,
                invoice_date: date | None = None) -> dict[str, Any]:
    reference = national_reference(number)
    now = utcnow()
    vat = (abs(total) * Decimal("0.255") / Decimal("1.255")).quantize(Decimal("0.01"))
    vat = vat if total >= 0 else -vat
    return {
        "entity_id": entity, "kind": kind, "number": number, "sequence": int(number[-7:]), "status": "issued",
        "payment_status": "unpaid", "customer_id": customer_id, "customer_type": customer_type, "channel": "paper",
        "period_start": date(2026, 3, 1), "period_end": date(2026, 4, 1),
        "invoice_date": invoice_date or date(2026, 4, 2), "due_date": due, "reference": reference,
        "reference_rf": rf_reference(reference), "currency": "EUR", "total_excl_vat": f"{total - vat:.2f}",
        "total_vat": f"{vat:.2f}", "total": f"{total:.2f}", "paid_amount": "0.00",
        "original_invoice_id": original_invoice_id, "final": False, "reason": None, "barcode": None,
        "document": {}, "finvoice": b"", "finvoice_sha256": "0" * 64, "run_id": None, "created_at": now,
        "issued_at": now, "released_at": now, "sent_at": None,
    }


def add_invoices(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    return insert_rows_returning_ids(session, InvoiceRow.__table__, rows)  # type: ignore[attr-defined]


def add_invoice(session: Session, number: str, total: str, due: date, customer_id: int, **kw: Any) -> int:
    return add_invoices(session, [invoice_row(number, total=Decimal(total), due=due, customer_id=customer_id,
                                              **kw)])[0]


def camt054(entries: Sequence[SampleEntry], iban: str = RETAIL_IBAN, message_id: str = "TEST") -> bytes:
    out = io.BytesIO()
    write_camt054(out, iban, list(entries), message_id=message_id)
    return out.getvalue()
