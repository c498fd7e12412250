"""A ``Document`` as JSON-safe data and back: how an issued document is kept in the store and exported as
``.json``. Decimals and dates travel as strings, so the round trip is exact."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from gateway.billing.core.model import (
    Address,
    Buyer,
    Consumption,
    Contract,
    CustomerType,
    Document,
    DocumentKind,
    ElectricityTax,
    Line,
    ReferenceScheme,
    Seller,
    VatRow,
)

FORMAT = "gateway-invoice/1"


def _d(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _address(a: Address) -> dict[str, Any]:
    return {"street": a.street, "postcode": a.postcode, "city": a.city, "country": a.country}


def line_to_json(line: Line) -> dict[str, Any]:
    return {
        "description": line.description, "amount": _d(line.amount), "vat_rate": _d(line.vat_rate),
        "quantity": _d(line.quantity), "unit": line.unit, "unit_price": _d(line.unit_price),
        "accounting_point": line.accounting_point, "product_code": line.product_code, "component": line.component,
        "period_start": _day(line.period_start), "period_end": _day(line.period_end), "vat_kind": line.vat_kind,
        "tax_class": line.tax_class, "flags": list(line.flags), "source": dict(line.source),
    }


def line_from_json(d: dict[str, Any]) -> Line:
    return Line(
        description=d["description"], amount=Decimal(d["amount"]), vat_rate=Decimal(d["vat_rate"]),
        quantity=_dec(d.get("quantity")), unit=d.get("unit"), unit_price=_dec(d.get("unit_price")),
        accounting_point=d.get("accounting_point"), product_code=d.get("product_code"), component=d.get("component"),
        period_start=_date(d.get("period_start")), period_end=_date(d.get("period_end")), vat_kind=d.get("vat_kind"),
        tax_class=d.get("tax_class"), flags=tuple(d.get("flags", ())), source=dict(d.get("source", {})),
    )


def document_to_json(doc: Document) -> dict[str, Any]:
    s, b = doc.seller, doc.buyer
    return {
        "format": FORMAT,
        "kind": doc.kind.value,
        "number": doc.number,
        "invoice_date": _day(doc.invoice_date),
        "due_date": _day(doc.due_date),
        "period_start": _day(doc.period_start),
        "period_end": _day(doc.period_end),
        "reference": doc.reference,
        "reference_rf": doc.reference_rf,
        "reference_scheme": doc.reference_scheme.value,
        "barcode": doc.barcode,
        "final": doc.final,
        "reason": doc.reason,
        "original_number": doc.original_number,
        "original_date": _day(doc.original_date),
        "payment_term_days": doc.payment_term_days,
        "seller": {
            "entity_id": s.entity_id, "name": s.name, "business_id": s.business_id, "vat_number": s.vat_number,
            "address": _address(s.address), "iban": s.iban, "bic": s.bic, "finvoice_address": s.finvoice_address,
            "finvoice_operator": s.finvoice_operator, "phone": s.phone, "email": s.email, "web": s.web,
            "complaint_text": s.complaint_text, "dispute_text": s.dispute_text, "home_town": s.home_town,
        },
        "buyer": {
            "customer_id": b.customer_id, "name": b.name, "customer_type": b.customer_type.value,
            "address": _address(b.address), "business_id": b.business_id, "language": b.language,
            "channel": b.channel, "e_invoice_address": b.e_invoice_address,
            "e_invoice_operator": b.e_invoice_operator, "email": b.email,
        },
        "lines": [line_to_json(ln) for ln in doc.lines],
        "vat": [{"rate": _d(v.rate), "base": _d(v.base), "vat": _d(v.vat)} for v in doc.vat],
        "totals": {"excl_vat": _d(doc.total_excl_vat), "vat": _d(doc.total_vat), "incl_vat": _d(doc.total)},
        "electricity_tax": None if doc.electricity_tax is None else {
            "basis_kwh": _d(doc.electricity_tax.basis_kwh), "amount": _d(doc.electricity_tax.amount)},
        "consumption": [{"accounting_point": c.accounting_point, "unit": c.unit, "quantity": _d(c.quantity),
                         "previous_year": _d(c.previous_year)} for c in doc.consumption],
        "contracts": [{"accounting_point": k.accounting_point, "product": k.product, "valid_from": _day(k.valid_from),
                       "valid_to": _day(k.valid_to), "fixed_term": k.fixed_term} for k in doc.contracts],
    }


def _address_from(d: dict[str, Any]) -> Address:
    return Address(d.get("street"), d.get("postcode"), d.get("city"), d.get("country") or "FI")


def document_from_json(d: dict[str, Any]) -> Document:
    s, b = d["seller"], d["buyer"]
    tax = d.get("electricity_tax")
    return Document(
        kind=DocumentKind(d["kind"]),
        seller=Seller(
            entity_id=s["entity_id"], name=s["name"], business_id=s["business_id"], vat_number=s["vat_number"],
            address=_address_from(s["address"]), iban=s["iban"], bic=s["bic"],
            finvoice_address=s.get("finvoice_address"), finvoice_operator=s.get("finvoice_operator"),
            phone=s.get("phone"), email=s.get("email"), web=s.get("web"), complaint_text=s.get("complaint_text", ""),
            dispute_text=s.get("dispute_text", ""), home_town=s.get("home_town"),
        ),
        buyer=Buyer(
            customer_id=b.get("customer_id"), name=b["name"], customer_type=CustomerType(b["customer_type"]),
            address=_address_from(b["address"]), business_id=b.get("business_id"), language=b.get("language", "fi"),
            channel=b.get("channel", "paper"), e_invoice_address=b.get("e_invoice_address"),
            e_invoice_operator=b.get("e_invoice_operator"), email=b.get("email"),
        ),
        period_start=date.fromisoformat(d["period_start"]),
        period_end=date.fromisoformat(d["period_end"]),
        lines=tuple(line_from_json(x) for x in d["lines"]),
        vat=tuple(VatRow(Decimal(v["rate"]), Decimal(v["base"]), Decimal(v["vat"])) for v in d["vat"]),
        invoice_date=date.fromisoformat(d["invoice_date"]),
        reference_scheme=ReferenceScheme(d.get("reference_scheme", "national")),
        number=d.get("number"),
        reference=d.get("reference"),
        reference_rf=d.get("reference_rf"),
        due_date=_date(d.get("due_date")),
        barcode=d.get("barcode"),
        electricity_tax=None if tax is None else ElectricityTax(Decimal(tax["basis_kwh"]), Decimal(tax["amount"])),
        consumption=tuple(Consumption(c["accounting_point"], c["unit"], Decimal(c["quantity"]),
                                      _dec(c.get("previous_year"))) for c in d.get("consumption", [])),
        contracts=tuple(Contract(k["accounting_point"], k["product"], _date(k.get("valid_from")),
                                 _date(k.get("valid_to")), bool(k.get("fixed_term"))) for k in d.get("contracts", [])),
        original_number=d.get("original_number"),
        original_date=_date(d.get("original_date")),
        reason=d.get("reason"),
        final=bool(d.get("final", False)),
        payment_term_days=int(d.get("payment_term_days", 14)),
    )
