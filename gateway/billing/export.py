"""`gateway invoices export`: one file per invoice and credit note, ``<entity>-<number>.<xml|pdf|json>``.

Finvoice is the stored, validated XML exactly as released; the PDF and the JSON are rendered from the stored
document data (deterministic, so an export repeated later gives the same bytes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.core.pdf import render_pdf
from gateway.billing.core.serialize import document_from_json
from gateway.billing.errors import BillingInputError
from gateway.rating.core.calendar import first_of_next_month
from gateway.store.billing_tables import InvoiceRow

FORMATS = {"finvoice": "xml", "pdf": "pdf", "json": "json"}


def invoices(session: Session, period: date | None = None, entity: str | None = None) -> Iterator[InvoiceRow]:
    q = select(InvoiceRow).where(col(InvoiceRow.number).is_not(None)).order_by(
        col(InvoiceRow.entity_id), col(InvoiceRow.sequence))
    if period is not None:
        q = q.where(col(InvoiceRow.period_start) >= period, col(InvoiceRow.period_start) < first_of_next_month(period))
    if entity is not None:
        q = q.where(col(InvoiceRow.entity_id) == entity)
    yield from session.execute(q.execution_options(yield_per=200)).scalars()


def invoice_json(row: InvoiceRow) -> dict[str, Any]:
    return {**row.document, "invoice_id": row.id, "entity": row.entity_id, "status": row.status,
            "payment_status": row.payment_status, "original_invoice_id": row.original_invoice_id,
            "issued_at": row.issued_at.isoformat(), "finvoice_sha256": row.finvoice_sha256}


def render(row: InvoiceRow, fmt: str) -> bytes:
    if fmt == "finvoice":
        return bytes(row.finvoice)
    if fmt == "pdf":
        return render_pdf(document_from_json(row.document))
    return (json.dumps(invoice_json(row), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def export_documents(engine: Engine, fmt: str, out: str | Path, *, period: date | None = None,
                     entity: str | None = None) -> list[Path]:
    if fmt not in FORMATS:
        raise BillingInputError(f"--format must be one of {', '.join(FORMATS)}")
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BillingInputError(f"cannot create {folder}: {error.strerror}") from None
    written = []
    with Session(engine) as session:
        for row in invoices(session, period, entity):
            path = folder / f"{row.entity_id}-{row.number}.{FORMATS[fmt]}"
            path.write_bytes(render(row, fmt))
            written.append(path)
    return written
