"""Who is billed: customers from Datahub (F04 agreement + F01 customer data) and the group's own
district-heating customers (``gateway customers add``), as ``billing_customer`` rows and invoice buyers.

A retail or network invoice goes to the customer of the sales agreement in force for the accounting point.
The agreement row carries its customer's F01 key (``SalesAgreementRow.customer_key``, a digest when the
customer is identified by a personal identity code); the newest F01 data of that key wins over the agreement's
copy, and the agreement's own invoicing address over both. A heat customer is tied to its heat points only
through the product assignment (``products assign GSRN --customer ID``). Personal identity codes are never
read here: a consumer has no identifier on an invoice at all; a company is shown with its business ID.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import col
from stdnum.fi import ytunnus

from gateway.billing.core.model import Address, Buyer, CustomerType
from gateway.billing.errors import BillingInputError
from gateway.domain.codes import CustomerIdentificationType
from gateway.domain.codes import CustomerType as DatahubCustomerType
from gateway.rating.core.catalogue import InvoicingRules
from gateway.store.billing_tables import BillingCustomerRow
from gateway.store.queries import in_values
from gateway.store.tables import CustomerRow, SalesAgreementRow
from outbox.types import utcnow

CHANNELS = ("paper", "e_invoice", "email", "direct_payment")
DATAHUB = "datahub"
OWN = "own"


@dataclass(frozen=True)
class CustomerData:
    """A customer as the sources describe it (before it has an id)."""

    key: str
    source: str
    name: str
    customer_type: CustomerType
    address: Address
    business_id: str | None = None
    language: str | None = None
    channel: str = "paper"
    e_invoice_address: str | None = None
    e_invoice_operator: str | None = None
    email: str | None = None

    def validate(self) -> None:
        if len(self.name.strip()) < 2:
            raise BillingInputError("a customer needs a name of at least two characters")
        if self.channel not in CHANNELS:
            raise BillingInputError(f"channel {self.channel!r} is not one of {', '.join(CHANNELS)}")
        if self.channel == "e_invoice" and not (self.e_invoice_address and self.e_invoice_operator):
            raise BillingInputError("an e-invoiced customer needs --e-invoice-address and --e-invoice-operator")
        if self.channel == "email" and not self.email:
            raise BillingInputError("a customer invoiced by e-mail needs --email")
        if self.business_id is not None:
            if self.customer_type is CustomerType.CONSUMER:
                raise BillingInputError("a consumer has no business ID (personal identity codes are never stored "
                                        "for invoicing)")
            if not ytunnus.is_valid(self.business_id):
                raise BillingInputError(f"{self.business_id!r} is not a valid Finnish business ID")


def _values(data: CustomerData) -> dict[str, Any]:
    return {
        "source": data.source, "name": data.name.strip()[:300], "customer_type": data.customer_type.value,
        "business_id": ytunnus.format(data.business_id) if data.business_id else None,
        "street": data.address.street, "postcode": data.address.postcode, "city": data.address.city,
        "country": data.address.country, "language": data.language, "channel": data.channel,
        "e_invoice_address": data.e_invoice_address, "e_invoice_operator": data.e_invoice_operator,
        "email": data.email,
    }


def upsert_customer(session: Session, data: CustomerData) -> tuple[BillingCustomerRow, bool]:
    """The customer row of ``data.key``, created or brought up to date; (row, changed)."""
    values = _values(data)
    now = utcnow()
    row = session.execute(
        select(BillingCustomerRow).where(col(BillingCustomerRow.customer_key) == data.key)
    ).scalar_one_or_none()
    if row is None:
        # INSERT … ON CONFLICT DO NOTHING: two runs meeting the same new customer both end up with one row.
        table = BillingCustomerRow.__table__  # type: ignore[attr-defined]
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        statement = insert(table).values(customer_key=data.key, created_at=now, updated_at=now, **values)
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT that SQLAlchemy gave an implicit RETURNING.
        created = session.execute(statement.on_conflict_do_nothing().returning(table.c.id)).first() is not None
        row = session.execute(
            select(BillingCustomerRow).where(col(BillingCustomerRow.customer_key) == data.key)
        ).scalar_one()
        if created:
            return row, True
    if any(getattr(row, k) != v for k, v in values.items()):
        for k, v in values.items():
            setattr(row, k, v)
        row.updated_at = now
        session.flush()
        return row, True
    return row, False


def add_own_customer(session: Session, data: CustomerData) -> tuple[BillingCustomerRow, bool]:
    """``gateway customers add``: a customer with no Datahub data (district heating)."""
    data.validate()
    return upsert_customer(session, data)


def new_own_key(customer_number: str | None) -> str:
    return f"{OWN}:{customer_number.strip()}" if customer_number else f"{OWN}:{uuid.uuid4()}"


def buyer_of(row: BillingCustomerRow) -> Buyer:
    return Buyer(
        customer_id=row.id, name=row.name, customer_type=CustomerType(row.customer_type),
        address=Address(row.street, row.postcode, row.city, row.country or "FI"),
        business_id=row.business_id if row.customer_type == CustomerType.BUSINESS.value else None,
        language=row.language or "fi", channel=row.channel, e_invoice_address=row.e_invoice_address,
        e_invoice_operator=row.e_invoice_operator, email=row.email,
    )


def buyer_of_data(data: CustomerData, customer_id: int | None) -> Buyer:
    return Buyer(
        customer_id=customer_id, name=data.name, customer_type=data.customer_type, address=data.address,
        business_id=data.business_id if data.customer_type is CustomerType.BUSINESS else None,
        language=data.language or "fi", channel=data.channel, e_invoice_address=data.e_invoice_address,
        e_invoice_operator=data.e_invoice_operator, email=data.email,
    )


# --- Datahub customers -------------------------------------------------------------------------------------

def _street(address: Mapping[str, Any]) -> str | None:
    parts = [address.get("street_name"), address.get("building_number")]
    street = " ".join(str(p) for p in parts if p)
    extra = " ".join(str(address[k]) for k in ("floor", "room") if address.get(k))
    street = f"{street} {extra}".strip() if extra else street
    if not street and address.get("po_box"):
        street = f"PL {address['po_box']}"
    if address.get("care_of"):
        street = f"c/o {address['care_of']}, {street}" if street else f"c/o {address['care_of']}"
    return street or None


def _address(address: Mapping[str, Any] | None) -> Address | None:
    if not address:
        return None
    return Address(_street(address), address.get("postcode"), address.get("city"), address.get("country_code") or "FI")


def _name(customer: Mapping[str, Any]) -> str:
    if customer.get("name"):
        return str(customer["name"])
    return " ".join(str(customer[k]) for k in ("given_name", "middle_name", "family_name") if customer.get(k))


def _email(customer: Mapping[str, Any]) -> str | None:
    for c in customer.get("communications", []):
        if c.get("channel") == "AD02" and c.get("value"):
            return str(c["value"])
    return None


def _newest_f01(session: Session, customer_key: str) -> Mapping[str, Any] | None:
    row = session.execute(
        select(CustomerRow).where(col(CustomerRow.customer_key) == customer_key)
        .order_by(col(CustomerRow.received_at).desc(), col(CustomerRow.id).desc()).limit(1)
    ).scalar_one_or_none()
    if row is None or not row.attributes:
        return None
    customer = row.attributes.get("customer")
    return customer if isinstance(customer, Mapping) else None


def newest_f01_data(session: Session, keys: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    """The newest F01 customer data of each customer key, in a few queries."""
    found: dict[str, Mapping[str, Any]] = {}
    wanted = sorted(set(keys))
    for i in range(0, len(wanted), 500):
        rows = session.execute(
            select(col(CustomerRow.customer_key), col(CustomerRow.attributes))
            .where(in_values(session, col(CustomerRow.customer_key), wanted[i:i + 500]))
            .order_by(col(CustomerRow.received_at), col(CustomerRow.id))
        )
        for key, attributes in rows:
            customer = (attributes or {}).get("customer")
            if isinstance(customer, Mapping):
                found[key] = customer  # later rows win
    return found


def agreement_customer(session: Session, agreement: SalesAgreementRow, rules: InvoicingRules,
                       f01_by_key: Mapping[str, Mapping[str, Any]] | None = None) -> CustomerData | None:
    """The customer an agreement bills (None when the agreement names no customer at all). ``f01_by_key``:
    the newest F01 data already read for many agreements (else it is read now)."""
    attributes = agreement.attributes or {}
    details = attributes.get("agreement") or {}
    customers = details.get("customers") or []
    f04 = customers[0] if customers else None
    if f01_by_key is not None:
        f01 = f01_by_key.get(agreement.customer_key) if agreement.customer_key else None
    else:
        f01 = _newest_f01(session, agreement.customer_key) if agreement.customer_key else None
    source = f01 or f04
    if source is None:
        return None
    business = source.get("customer_type") == DatahubCustomerType.COMPANY.value
    business_id = None
    if business and source.get("identification_type") == CustomerIdentificationType.BUSINESS_ID.value:
        business_id = str(source.get("identification")) or None
    address = _address(details.get("invoicing_address")) or _address(source.get("address")) or (
        _address(f04.get("address")) if f04 else None) or Address()
    channel_code = agreement.invoicing_channel or details.get("invoicing_channel")
    channel = rules.channels.get(channel_code or "", rules.default_channel)
    e_invoice = agreement.e_invoice_address or {}
    if channel == "e_invoice" and not e_invoice.get("address"):
        channel = rules.default_channel
    key = f"{DATAHUB}:{agreement.customer_key}" if agreement.customer_key else (
        f"{DATAHUB}-agreement:{agreement.agreement_id or agreement.id}")
    return CustomerData(
        key=key, source=DATAHUB, name=_name(source) or _name(f04 or {}),
        customer_type=CustomerType.BUSINESS if business else CustomerType.CONSUMER, address=address,
        business_id=business_id if business_id and ytunnus.is_valid(business_id) else None,
        language=source.get("language"), channel=channel, e_invoice_address=e_invoice.get("address"),
        e_invoice_operator=e_invoice.get("router"), email=_email(source),
    )


def upsert_customers(session: Session, data: Sequence[CustomerData]) -> dict[str, BillingCustomerRow]:
    """``upsert_customer`` for many customers at once: one read, one insert of the new ones, updates of the
    changed ones; the rows by key."""
    unique = {d.key: d for d in data}
    keys = sorted(unique)
    rows: dict[str, BillingCustomerRow] = {}

    def read(wanted: list[str]) -> None:
        for i in range(0, len(wanted), 500):
            for row in session.execute(select(BillingCustomerRow).where(
                    in_values(session, col(BillingCustomerRow.customer_key), wanted[i:i + 500]))).scalars():
                rows[row.customer_key] = row

    read(keys)
    missing = [k for k in keys if k not in rows]
    if missing:
        now = utcnow()
        table = BillingCustomerRow.__table__  # type: ignore[attr-defined]
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        session.execute(insert(table).on_conflict_do_nothing(),
                        [{"customer_key": k, "created_at": now, "updated_at": now, **_values(unique[k])}
                         for k in missing])
        read(missing)
    new = set(missing)  # a set: ``in`` a list of the new keys made this loop quadratic in the customers
    for key in keys:
        if key not in new and any(getattr(rows[key], k) != v for k, v in _values(unique[key]).items()):
            upsert_customer(session, unique[key])  # the customer's data changed since the last run
    return rows


def customer_by_id(session: Session, customer_id: int) -> BillingCustomerRow | None:
    return session.get(BillingCustomerRow, customer_id)


def list_customers(session: Session) -> list[BillingCustomerRow]:
    return list(session.execute(select(BillingCustomerRow).order_by(col(BillingCustomerRow.id))).scalars())
