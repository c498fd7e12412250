"""The payment QR code of an invoice: the EPC QR code (EPC069-12 "BCD", SEPA credit transfer) as Finance
Finland's invoice QR guideline uses it.

The structured remittance field takes only an ISO 11649 (RF) creditor reference, so the code always carries
the invoice's RF form (every national reference has one). The due date goes in the beneficiary-to-originator
information as ``ReqdExctnDt/YYYY-MM-DD`` (Finance Finland's convention; unverified here). The amount must be
0.01–999 999 999.99 €; a document with nothing to pay gets no QR code.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import segno

from gateway.billing.core.reference import validate_rf

MAX_AMOUNT = Decimal("999999999.99")


def epc_payload(*, name: str, iban: str, bic: str | None, amount: Decimal, rf_reference: str,
                due: date | None) -> str | None:
    """The text to encode, or None when the payment cannot be expressed (no amount, too large)."""
    if amount <= 0 or amount > MAX_AMOUNT:
        return None
    reference = validate_rf(rf_reference)
    lines = [
        "BCD", "002", "1", "SCT",
        bic or "",
        name[:70],
        iban.replace(" ", ""),
        f"EUR{amount.quantize(Decimal('0.01')):f}",
        "",  # purpose
        reference,
        "",  # unstructured remittance: empty when a structured reference is given
        f"ReqdExctnDt/{due.isoformat()}" if due else "",
    ]
    return "\n".join(lines)


def qr_matrix(payload: str) -> list[list[bool]]:
    """Dark (True) and light modules of the QR symbol, error correction level M as EPC requires."""
    symbol = segno.make_qr(payload, error="m", boost_error=False, encoding="utf-8")
    return [[bool(module) for module in row] for row in symbol.matrix]
