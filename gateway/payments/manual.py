"""Manual allocation asked by a person through the API or the pages: `service.allocate_manually` (what the CLI's
`gateway payments allocate` runs) plus the access audit row, in the caller's transaction, so that the
allocation and the record of who made it commit together."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from gateway.access.audit import ALLOCATE_PAYMENT, record_access
from gateway.access.users import Principal
from gateway.payments.service import PaymentInputError, allocate_manually
from gateway.store.billing_tables import InvoiceRow


def allocate_as(session: Session, principal: Principal, unmatched_id: int, *, invoice_id: int | None = None,
                invoice_number: str | None = None, entity: str | None = None,
                amount: Decimal | None = None) -> dict[str, Any]:
    """Put (part of) an unmatched payment on an invoice given by id or by number (and entity, when the number
    alone is not unique); raises `PaymentInputError` (or a subclass) and writes nothing when it cannot."""
    if invoice_id is not None:
        invoice = session.get(InvoiceRow, invoice_id)
        if invoice is None or invoice.kind != "invoice" or not invoice.number:
            raise PaymentInputError(f"no invoice {invoice_id} (a credit note is not paid)")
        invoice_number, entity = invoice.number, invoice.entity_id
    if not invoice_number:
        raise PaymentInputError("the invoice is required (its id or number)")
    done = allocate_manually(session, unmatched_id, invoice_number, amount, entity=entity)
    result = {"id": done.allocation_id, "unmatched_id": unmatched_id, "invoice_id": done.invoice_id,
              "invoice_number": done.invoice_number, "amount": f"{done.amount:.2f}",
              "remaining": f"{done.remaining:.2f}", "payment_status": done.payment_status}
    record_access(session, principal, ALLOCATE_PAYMENT, "unmatched_payment", str(unmatched_id), detail=result)
    return result
