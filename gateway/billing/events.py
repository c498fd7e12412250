"""Every outbox topic invoicing emits or consumes, and the shape of its payload (one place, so that the
topics can move into a shared ``gateway/events.py`` as they are).

Emitted
    ``rating.revised`` (by ``gateway.rating.service.record_rating`` when a period gets revision ≥ 2)::

        {"rating_result_id": int, "accounting_point": GSRN, "period_start": "YYYY-MM-DD",
         "period_end": "YYYY-MM-DD" (exclusive), "revision": int, "cause": str}

    ``invoice.released`` and ``credit_note.released`` (one per issued document, in the issuing transaction;
    the payment-provider integration consumes them)::

        {"invoice_id": int, "kind": "invoice" | "credit_note", "entity": str, "number": str,
         "reference": national, "reference_rf": RF, "payment_reference": the one the payer is asked to use,
         "total_excl_vat": "0.00", "total_vat": "0.00", "total": "0.00", "currency": "EUR",
         "invoice_date": "YYYY-MM-DD", "due_date": "YYYY-MM-DD", "customer_id": int,
         "customer_type": "consumer" | "business", "channel": str, "provider_account": str | None,
         "provider_mode": "print_only" | "full_service" | None, "original_invoice_id": int | None,
         "final": bool}

    ``billing.final_invoice`` (invoicing's own, delayed with ``not_before``: issue the final invoice)::

        {"accounting_point": GSRN, "agreement_id": str | None, "end": ISO instant, "reason": str}

Consumed
    ``rating.revised`` → credit note + corrected invoice, or a carried delta (``gateway.billing.corrections``)
    ``masterdata.agreement`` with ``"event": "ended"`` (F06, written by ``gateway.apply``) → schedules
    ``billing.final_invoice`` (``gateway.billing.final``)
"""

from __future__ import annotations

from typing import Any

TOPIC_RATING_REVISED = "rating.revised"
TOPIC_INVOICE_RELEASED = "invoice.released"
TOPIC_CREDIT_NOTE_RELEASED = "credit_note.released"
TOPIC_FINAL_INVOICE = "billing.final_invoice"
TOPIC_AGREEMENT = "masterdata.agreement"  # declared by gateway.apply; consumed here

CONSUMER_CORRECTIONS = "billing.corrections"
CONSUMER_AGREEMENT_ENDED = "billing.agreement-ended"
CONSUMER_FINAL_INVOICE = "billing.final-invoice"


def rating_revised_payload(rating_result_id: int, accounting_point: str, period_start: str, period_end: str,
                           revision: int, cause: str) -> dict[str, Any]:
    return {"rating_result_id": rating_result_id, "accounting_point": accounting_point,
            "period_start": period_start, "period_end": period_end, "revision": revision, "cause": cause}
