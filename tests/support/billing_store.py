"""Billable accounting points in the store, stored the way the receive pipeline stores F04 agreements."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from gateway.rating.core.calendar import local_midnight_utc
from gateway.store.rating_tables import ProductAssignmentRow
from gateway.store.tables import SalesAgreementRow
from outbox.types import utcnow
from tests.support.rating_store import add_master_data, add_metering

MARCH, APRIL = date(2026, 3, 1), date(2026, 4, 1)


def customer_json(n: int, *, street: str | None = "Kotikatu 1", company: bool = False) -> dict[str, Any]:
    """An F04 customer as ``gateway.apply.to_json`` keeps it (the identity code masked)."""
    address = {"street_name": street, "postcode": "00100", "city": "Helsinki", "country_code": "FI"}
    if street is None:
        address = {"city": "Helsinki"}
    if company:
        return {"identification": "2077474-0", "identification_type": "AA01", "customer_type": "AB01",
                "name": f"Yritys {n} Oy", "address": address}
    return {"identification": "010160-****", "identification_type": "AA03", "customer_type": "AB02",
            "given_name": "Asiakas", "family_name": f"Numero {n}", "address": address}


def add_billable_point(session: Session, gsrn: str, customer: int, *, product: str = "EM-KIINTEA",
                       network: str | None = "SV-YLEIS", start: date = date(2025, 1, 1), end: date | None = None,
                       street: str | None = "Kotikatu 1", company: bool = False, month: date = MARCH,
                       kwh_per_hour: int = 1, metering: bool = True, agreement_id: str | None = None) -> None:
    """A point with an F04 agreement of customer ``customer`` (a consumer unless ``company``), E58 master data,
    an optional network product and hourly metering for the month."""
    add_master_data(session, gsrn)
    session.add(SalesAgreementRow(
        accounting_point=gsrn, agreement_id=agreement_id or f"A-{gsrn}", customer_key=f"key-{customer}",
        start=local_midnight_utc(start), end=None if end is None else local_midnight_utc(end), product_code=product,
        invoicing_channel="AI01", status="active" if end is None else "ended", message_pk=1, received_at=utcnow(),
        attributes={"accounting_point": gsrn, "agreement": {
            "agreement_id": agreement_id or f"A-{gsrn}", "invoicing_channel": "AI01",
            "customers": [customer_json(customer, street=street, company=company)]}},
    ))
    if network:
        session.add(ProductAssignmentRow(accounting_point=gsrn, product_code=network, segment="network",
                                         valid_from=date(2020, 1, 1), main_fuse="3x25A", source="test",
                                         created_at=utcnow()))
    if metering:
        first = local_midnight_utc(month)
        hours = int((local_midnight_utc(_next(month)) - first) / timedelta(hours=1))
        add_metering(session, gsrn, first, [kwh_per_hour * 1_000_000] * hours, minutes=60)


def _next(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)
