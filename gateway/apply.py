"""Applying accepted transactions to the domain store, inside the receive pipeline's one transaction.

Changes that a consumer needs also write outbox events (declared in `gateway.events`), so consumers learn about
them exactly when they commit.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.domain.acknowledgement import Acknowledgement
from gateway.domain.agreement import AgreementEndNotice, SalesAgreementEvent
from gateway.domain.codes import ACK_STATUS
from gateway.domain.customer import CustomerEvent
from gateway.domain.identifiers import PersonalIdentityCode
from gateway.domain.masterdata import AccountingPointMasterData
from gateway.domain.message import DatahubMessage, MessageHeader
from gateway.domain.metering import MeteringTransaction
from gateway.events import (
    ACCOUNTING_POINT_CHANGED,
    AGREEMENT_CHANGED,
    METERING_RECEIVED,
    RELEASE_PARKED,
    MeteringReceived,
    SeriesRef,
)
from gateway.store.metering import SeriesKey, latest_contents, next_versions, pack
from gateway.store.queries import insert_rows
from gateway.store.tables import (
    AccountingPointRow,
    CustomerRow,
    MeteringSeriesRow,
    OutboundMessage,
    ParkedMessage,
    SalesAgreementRow,
)
from outbox.types import utcnow

# The names other modules import; the topics themselves are declared in gateway.events.
TOPIC_METERING = METERING_RECEIVED.name
TOPIC_RELEASE_PARKED = RELEASE_PARKED.name


def to_json(value: Any) -> Any:
    """Domain objects as JSON-safe data. Personal identity codes appear masked, never in full."""
    if isinstance(value, PersonalIdentityCode):
        return value.masked
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) not in (None, ())}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def apply_transactions(
    session: Session, message: DatahubMessage[Any], accepted: Sequence[int], message_pk: int
) -> list[str]:
    """Apply the accepted transactions (indexes into message.transactions); returns the GSRNs now known."""
    txns = [message.transactions[i] for i in accepted]
    if not txns:
        return []
    first = txns[0]
    now = utcnow()
    if isinstance(first, MeteringTransaction):
        _store_metering(session, message.header, txns, message_pk, now)
        return []
    if isinstance(first, AccountingPointMasterData):
        return [_store_accounting_point(session, t, message_pk, now) for t in txns]
    if isinstance(first, CustomerEvent):
        for t in txns:
            _store_customer(session, t, message_pk, now)
        return []
    if isinstance(first, SalesAgreementEvent):
        return [_store_agreement(session, message.header, t, message_pk, now) for t in txns]
    if isinstance(first, AgreementEndNotice):
        for t in txns:
            _end_agreement(session, t, message_pk, now)
        return []
    if isinstance(first, Acknowledgement):
        _record_acknowledgement(session, message.header, first, now)
        return []
    raise TypeError(f"no store for {type(first).__name__}")


def _store_metering(
    session: Session, header: MessageHeader, txns: list[MeteringTransaction], message_pk: int, now: datetime
) -> None:
    store_metering_batch(session, [(header, txns, message_pk)], now)


@dataclass(frozen=True)
class SeriesToStore:
    """One series of values for the metering store, whatever brought it (an E66 transaction, a heat CSV)."""

    key: SeriesKey
    unit: str
    positions: int
    values: bytes  # packed as in `gateway.store.metering`
    quality: bytes
    transaction_id: str


@dataclass(frozen=True)
class MeteringDelivery:
    """Series that arrived together: one `metering.received` event announces them."""

    message_pk: int
    sender: str
    event_key: str | None
    series: Sequence[SeriesToStore]


def store_metering_batch(
    session: Session, messages: Sequence[tuple[MessageHeader, Sequence[MeteringTransaction], int]], now: datetime
) -> None:
    """Store the accepted series of several E66 messages (header, transactions, message pk): see `store_series`."""
    deliveries = []
    for header, txns, message_pk in messages:
        series = []
        for t in txns:
            values, quality = pack(t)
            series.append(SeriesToStore(
                SeriesKey(t.accounting_point, t.product, t.resolution or "", t.start, t.end), t.unit, len(t),
                values, quality, t.transaction_id))
        deliveries.append(MeteringDelivery(message_pk, header.juridical_sender, header.message_id, series))
    store_series(session, deliveries, now)


def store_series(
    session: Session, deliveries: Sequence[MeteringDelivery], now: datetime, *, skip_unchanged: bool = False
) -> list[list[SeriesRef]]:
    """The metering store's one writer: each series becomes the next version of its period, and each delivery
    with anything stored is announced on `metering.received` — with one version lookup, one bulk insert and one
    outbox statement for them all, so a run of single-series messages costs a few round trips, not a few per
    message. Series of one period in two deliveries get consecutive versions in order. `skip_unchanged`: a series
    whose values and qualities equal its period's latest version is not stored again (re-importing a file
    changes nothing). The stored series of each delivery, as announced (point, start, end, resolution, version)."""
    pending = [(d, s) for d in deliveries for s in d.series]
    if skip_unchanged:
        latest = latest_contents(session, [s.key for _, s in pending])
        pending = [(d, s) for d, s in pending if latest.get(s.key) != (s.values, s.quality)]
    versions = next_versions(session, [s.key for _, s in pending])  # one number per key occurrence, in order
    rows: list[dict[str, Any]] = []
    announced: dict[int, list[SeriesRef]] = {id(d): [] for d in deliveries}
    for (delivery, s), version in zip(pending, versions, strict=True):
        key = s.key
        rows.append({
            "accounting_point": key.accounting_point, "product": key.product, "unit": s.unit,
            "resolution": key.resolution, "period_start": key.period_start, "period_end": key.period_end,
            "version": version, "positions": s.positions, "values": s.values, "quality": s.quality,
            "transaction_id": s.transaction_id, "message_pk": delivery.message_pk, "received_at": now,
        })
        announced[id(delivery)].append(
            {"accounting_point": key.accounting_point, "start": key.period_start.isoformat(),
             "end": key.period_end.isoformat(), "resolution": key.resolution, "version": version})
    insert_rows(session, MeteringSeriesRow.__table__, rows)  # type: ignore[attr-defined]
    METERING_RECEIVED.emit_many(session, [
        (MeteringReceived(message_pk=d.message_pk, sender=d.sender, series=announced[id(d)]), d.event_key)
        for d in deliveries if announced[id(d)]
    ])
    return [announced[id(d)] for d in deliveries]


def _store_accounting_point(session: Session, t: AccountingPointMasterData, message_pk: int, now: datetime) -> str:
    session.add(AccountingPointRow(
        gsrn=t.accounting_point, valid_from=t.start_of_occurrence, grid_area=t.grid_area,
        metering_method=t.metering_method, resolution=t.resolution, main_fuse=t.fuse_size,
        tax_category=t.tax_category, attributes=to_json(t), message_pk=message_pk, received_at=now,
    ))
    ACCOUNTING_POINT_CHANGED.emit(session, {"gsrn": t.accounting_point,
                                             "valid_from": t.start_of_occurrence.isoformat()},
         key=t.accounting_point)
    return t.accounting_point


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.isoformat()


def _looks_like_identity_code(value: str) -> bool:
    return len(value) == 11 and value[:6].isdigit() and value[6] in "+-ABCDEFUVWXY"


def _customer_key(identification: object) -> str:
    if isinstance(identification, PersonalIdentityCode):
        # A stable key that is not the personal identity code itself.
        return "pic:" + hashlib.sha256(identification.reveal().encode()).hexdigest()[:32]
    return str(identification or "")


def _store_customer(session: Session, t: CustomerEvent, message_pk: int, now: datetime) -> None:
    c = t.customer
    ident = c.identification
    full = ident.reveal() if isinstance(ident, PersonalIdentityCode) else (str(ident) if ident else None)
    masked = ident.masked if isinstance(ident, PersonalIdentityCode) else (
        PersonalIdentityCode(full).masked if full and _looks_like_identity_code(full) else full)
    key = _customer_key(ident)
    row = CustomerRow(
        customer_key=key, name=c.display_name, identification_type=c.identification_type,
        identification=full, identification_masked=masked, attributes=to_json(t),
        message_pk=message_pk, received_at=now,
    )
    session.add(row)
    session.flush()
    # No event yet: nothing consumes customer changes (the support log will; see gateway.events).


def _store_agreement(
    session: Session, header: MessageHeader, t: SalesAgreementEvent, message_pk: int, now: datetime
) -> str:
    details = t.agreement
    customer = details.customers[0] if details and details.customers else None
    session.add(SalesAgreementRow(
        accounting_point=t.accounting_point,
        agreement_id=t.agreement_id,
        customer_key=_customer_key(customer.identification) if customer and customer.identification else None,
        supplier_gln=(details.supplier if details and details.supplier else header.juridical_recipient),
        start=t.start_of_occurrence,
        end=t.end_of_occurrence,
        product_code=(details.product_codes[0] if details and details.product_codes else None),
        invoicing_channel=details.invoicing_channel if details else None,
        e_invoice_address=to_json(details.electronic_invoice) if details and details.electronic_invoice else None,
        notice=to_json({"days": details.notice_days, "period": details.notice_period}) if details else None,
        attributes=to_json(t),
        status="active",
        message_pk=message_pk,
        received_at=now,
    ))
    AGREEMENT_CHANGED.emit(session, {
        "accounting_point": t.accounting_point, "agreement_id": t.agreement_id, "event": "new",
        "start": _iso(t.start_of_occurrence), "end": _iso(t.end_of_occurrence), "process_message_pk": message_pk,
    }, key=t.accounting_point)
    return t.accounting_point


def active_agreements(session: Session, agreement_id: str | None, accounting_point: str | None) -> list[int]:
    """Ids of the active agreements an end notice refers to: by agreement id and accounting point, by
    whichever of them it gives."""
    if not agreement_id and not accounting_point:
        return []
    q = select(col(SalesAgreementRow.id)).where(col(SalesAgreementRow.status) == "active")
    if agreement_id:
        q = q.where(col(SalesAgreementRow.agreement_id) == agreement_id)
    if accounting_point:
        q = q.where(col(SalesAgreementRow.accounting_point) == accounting_point)
    return [row_id for row_id in session.execute(q).scalars() if row_id is not None]


def _end_agreement(session: Session, t: AgreementEndNotice, message_pk: int, now: datetime) -> None:
    ids = active_agreements(session, t.agreement_id, t.accounting_point)
    if not ids:  # the event check refuses such a notice; a race with another end notice lands here
        raise ValueError(f"end notice for agreement {t.agreement_id} / {t.accounting_point}: none active")
    session.execute(
        update(SalesAgreementRow).where(col(SalesAgreementRow.id).in_(ids))
        .values(end=t.end_of_occurrence, status="ended", ended_by_message_pk=message_pk)
    )
    # The key is the accounting point, as for the start: a notice that names only the agreement takes it there.
    point = t.accounting_point or session.execute(
        select(col(SalesAgreementRow.accounting_point)).where(col(SalesAgreementRow.id).in_(ids)).limit(1)
    ).scalar_one_or_none()
    AGREEMENT_CHANGED.emit(session, {"accounting_point": point, "agreement_id": t.agreement_id, "event": "ended",
                                      "reason": t.reason, "end": _iso(t.end_of_occurrence)}, key=point)


def _record_acknowledgement(session: Session, header: MessageHeader, ack: Acknowledgement, now: datetime) -> None:
    original = header.original_business_document_reference
    errors = [{"code": r.code, "text": r.text} for r in ack.event_reasons] + [
        {"code": r.code, "text": r.text, "series": d.series_id} for d in ack.series_details for r in d.reasons
    ]
    status = ACK_STATUS.get(ack.reason_code, "answered")
    session.execute(
        update(OutboundMessage)
        .where(col(OutboundMessage.message_id) == original)
        .values(status=status, ack_reason_code=ack.reason_code, ack_errors=errors or None, updated_at=now)
    )


def release_parked_for(session: Session, gsrns: Sequence[str]) -> int:
    """Schedule a retry of every parked message that waits for one of these accounting points."""
    if not gsrns:
        return 0
    wanted = set(gsrns)
    released = 0
    for parked in session.execute(
        select(ParkedMessage).where(col(ParkedMessage.released_at).is_(None))
    ).scalars():
        if wanted & set(parked.waiting_for):
            # No key: a release must not wait behind the parked message's own delayed recheck (keyed by it).
            assert parked.id is not None
            RELEASE_PARKED.emit(session, {"parked_id": parked.id, "because": sorted(wanted)}, key=None)
            released += 1
    return released
