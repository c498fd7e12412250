"""Network and district heating products per accounting point, with validity in local days.

Rules: one product per segment and point on any day. A new assignment that starts after an open-ended
one of the same segment ends that one the day before (the usual product change); any other overlap is
an error. Assigning exactly what is stored again changes nothing, so an assignment file can be loaded
repeatedly. The file format is CSV with the header
``accounting_point,product_code,valid_from,valid_to`` and optional columns ``main_fuse``,
``contracted_flow_m3h``, ``contracted_power_kw`` and ``customer_id`` (the billed customer of a district heating
point, from ``gateway customers add``: heat points have no Datahub agreement); ``valid_to`` is the last day of
supply (inclusive) or empty for open-ended, dates are ISO ``YYYY-MM-DD`` local days.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import exists, select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.apply import release_parked_for
from gateway.domain.identifiers import is_valid_gsrn
from gateway.rating.core.catalogue import Catalogue, Segment
from gateway.rating.errors import RatingInputError
from gateway.store.billing_tables import BillingCustomerRow
from gateway.store.rating_tables import ProductAssignmentRow
from gateway.store.tables import AccountingPointRow
from outbox.types import utcnow

ASSIGNABLE = (Segment.NETWORK, Segment.DISTRICT_HEATING)
CSV_REQUIRED = ["accounting_point", "product_code", "valid_from", "valid_to"]
CSV_OPTIONAL = ["main_fuse", "contracted_flow_m3h", "contracted_power_kw", "customer_id"]


@dataclass(frozen=True)
class AssignmentSpec:
    accounting_point: str
    product_code: str
    valid_from: date
    valid_to: date | None = None  # exclusive
    main_fuse: str | None = None
    contracted_flow_m3h: Decimal | None = None
    contracted_power_kw: Decimal | None = None
    customer_id: int | None = None  # district heating: who is billed for this point (billing_customer.id)

    def __post_init__(self) -> None:
        if not is_valid_gsrn(self.accounting_point):
            raise RatingInputError(f"{self.accounting_point!r} is not a valid GSRN (18 digits, GS1 check digit)")
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise RatingInputError(f"assignment of {self.product_code} ends before it starts")
        for name, value in (("contracted_flow_m3h", self.contracted_flow_m3h),
                            ("contracted_power_kw", self.contracted_power_kw)):
            if value is not None and value < 0:
                raise RatingInputError(f"{name} must not be negative")


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _same(row: ProductAssignmentRow, spec: AssignmentSpec, valid_to: date | None) -> bool:
    return (row.product_code, row.valid_from, row.valid_to, row.main_fuse, row.contracted_flow_m3h,
            row.contracted_power_kw, row.customer_id) == (spec.product_code, spec.valid_from, valid_to, spec.main_fuse,
                                                          _text(spec.contracted_flow_m3h),
                                                          _text(spec.contracted_power_kw), spec.customer_id)


def announced(session: Session, accounting_point: str) -> bool:
    """Whether an E58 ever announced the accounting point (district-heating points never are)."""
    return bool(session.execute(
        select(exists().where(col(AccountingPointRow.gsrn) == accounting_point))
    ).scalar())


def segment_of(spec: AssignmentSpec, catalogue: Catalogue) -> Segment:
    if spec.product_code not in catalogue.products:
        raise RatingInputError(f"product {spec.product_code!r} is not in the active catalogue")
    segment = catalogue.products[spec.product_code].segment
    if segment not in ASSIGNABLE:
        raise RatingInputError(
            f"product {spec.product_code} is a {segment} product; retail products come from the F04 agreement"
        )
    return segment


def unannounced_network_points(session: Session, specs: Sequence[AssignmentSpec], catalogue: Catalogue) -> list[str]:
    """Accounting points that ``specs`` would give a network product although no E58 announced them."""
    points = dict.fromkeys(s.accounting_point for s in specs if segment_of(s, catalogue) is Segment.NETWORK)
    return [p for p in points if not announced(session, p)]


def assign_product(
    session: Session, spec: AssignmentSpec, catalogue: Catalogue, source: str = "cli", *, force: bool = False
) -> tuple[ProductAssignmentRow, bool]:
    """Store an assignment in the caller's transaction; (row, created).

    A network product goes only to an electricity accounting point that an E58 announced (a typing error in a
    GSRN would otherwise create a point nobody bills correctly); ``force`` skips that check. District-heating
    points are not in Datahub and are assignable as they are."""
    segment = segment_of(spec, catalogue)
    if spec.customer_id is not None and session.get(BillingCustomerRow, spec.customer_id) is None:
        raise RatingInputError(f"customer {spec.customer_id} does not exist (see `gateway customers add`)")
    rows = session.execute(
        select(ProductAssignmentRow)
        .where(col(ProductAssignmentRow.accounting_point) == spec.accounting_point,
               col(ProductAssignmentRow.segment) == str(segment))
        .order_by(col(ProductAssignmentRow.valid_from))
    ).scalars().all()
    starts = {row.valid_from for row in rows}
    for row in rows:
        if _same(row, spec, spec.valid_to):
            return row, False
        if spec.customer_id is not None and row.customer_id is None and _same(
                row, replace(spec, customer_id=None), spec.valid_to):
            row.customer_id = spec.customer_id  # naming the heat customer of an assignment stored without one
            session.flush()
            return row, True
        # the open-ended original of a row that a later product change has since ended
        if spec.valid_to is None and row.valid_to in starts and _same(row, spec, row.valid_to):
            return row, False
    if segment is Segment.NETWORK and not force and not announced(session, spec.accounting_point):
        raise RatingInputError(
            f"accounting point {spec.accounting_point} was never announced by an E58 (no master data): a network "
            "product needs a known electricity accounting point; check the GSRN, or give --force to assign it anyway"
        )
    for row in rows:
        if row.valid_to is None and row.valid_from < spec.valid_from:
            row.valid_to = spec.valid_from  # a product change ends the open-ended predecessor
            continue
        ends_before = spec.valid_to is not None and spec.valid_to <= row.valid_from
        starts_after = row.valid_to is not None and row.valid_to <= spec.valid_from
        if not (ends_before or starts_after):
            last = "open" if row.valid_to is None else (row.valid_to - timedelta(days=1)).isoformat()
            raise RatingInputError(
                f"accounting point {spec.accounting_point} already has {row.product_code} from "
                f"{row.valid_from.isoformat()} to {last}; one {segment} product per day"
            )
    row = ProductAssignmentRow(
        accounting_point=spec.accounting_point, product_code=spec.product_code, segment=str(segment),
        valid_from=spec.valid_from, valid_to=spec.valid_to, main_fuse=spec.main_fuse,
        contracted_flow_m3h=_text(spec.contracted_flow_m3h), contracted_power_kw=_text(spec.contracted_power_kw),
        customer_id=spec.customer_id, source=source[-300:], created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    # Heat meters are not in Datahub: the assignment is what makes their readings known, so readings that
    # were parked waiting for this point go again.
    release_parked_for(session, [spec.accounting_point])
    return row, True


def list_assignments(session: Session, accounting_point: str | None = None) -> Sequence[ProductAssignmentRow]:
    q = select(ProductAssignmentRow).order_by(
        col(ProductAssignmentRow.accounting_point), col(ProductAssignmentRow.segment),
        col(ProductAssignmentRow.valid_from),
    )
    if accounting_point is not None:
        q = q.where(col(ProductAssignmentRow.accounting_point) == accounting_point)
    return session.execute(q).scalars().all()


def parse_date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise RatingInputError(f"{what} {text!r} is not a date (YYYY-MM-DD)") from None


def _decimal(text: str | None, what: str) -> Decimal | None:
    if text is None or not text.strip():
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise RatingInputError(f"{what} {text!r} is not a decimal number") from None


def _integer(text: str | None, what: str) -> int | None:
    if text is None or not text.strip():
        return None
    if not text.strip().isdigit():
        raise RatingInputError(f"{what} {text!r} is not a whole number")
    return int(text.strip())


def read_assignment_csv(text: str) -> list[AssignmentSpec]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    unknown = set(header) - set(CSV_REQUIRED) - set(CSV_OPTIONAL)
    if not set(CSV_REQUIRED) <= set(header) or unknown:
        raise RatingInputError(
            f"line 1: the header must be {','.join(CSV_REQUIRED)} (optionally {','.join(CSV_OPTIONAL)})"
        )
    specs = []
    for line, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue
        try:
            last = parse_date(row["valid_to"], "valid_to") if row["valid_to"] else None
            specs.append(AssignmentSpec(
                accounting_point=row["accounting_point"],
                product_code=row["product_code"],
                valid_from=parse_date(row["valid_from"], "valid_from"),
                valid_to=None if last is None else last + timedelta(days=1),
                main_fuse=row.get("main_fuse") or None,
                contracted_flow_m3h=_decimal(row.get("contracted_flow_m3h"), "contracted_flow_m3h"),
                contracted_power_kw=_decimal(row.get("contracted_power_kw"), "contracted_power_kw"),
                customer_id=_integer(row.get("customer_id"), "customer_id"),
            ))
        except RatingInputError as error:
            raise RatingInputError(f"line {line}: {error}") from None
    if not specs:
        raise RatingInputError("the assignment file has no rows")
    return specs
