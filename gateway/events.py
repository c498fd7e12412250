"""Every outbox topic the gateway emits, with its payload type and key, and every consumer of it: declared once.

How a consumer gets every message of its topic, whichever process writes it: `gateway migrate` writes
:data:`CONSUMERS` into the database's subscription table (`outbox.subscriptions.sync`), and `outbox.enqueue`
creates one delivery row per subscribed consumer from that table inside the writer's transaction. No process
holds the list itself, so none can leave a consumer out, and a topic without a consumer cannot be emitted (the
enqueue raises). A worker refuses to start for a consumer the database does not subscribe.

Emit with `TOPIC.emit(session, payload, key=…)` / `TOPIC.emit_many(…)`, which check the payload's keys against
its type; handlers read it with `TOPIC.payload(message)`. `tests/unit/test_events.py` checks that every topic
emitted anywhere in the gateway is declared here with at least one consumer, that every consumer's topic is
emitted, and that the bootstrap serves exactly these consumers.

The key: each consumer handles the messages of one key in enqueue order, one at a time, and a dead letter holds
back only its own key for its own consumer (`outbox.worker`). `None` means no order.

Not emitted until a consumer needs them: customer changes (`masterdata.customer`, for the support log) and
Datahub's ACKs of our messages (`outbound.acknowledged`; the receive pipeline records them on the outbound
message in the same transaction). Declare the topic and its consumer here when that consumer is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Generic, Literal, TypedDict, TypeVar, cast

from sqlalchemy import Select
from sqlalchemy.orm import Session

from outbox import OutboxMessage, enqueue, enqueue_many, enqueue_select

P = TypeVar("P", bound=Mapping[str, Any])


@dataclass(frozen=True)
class Topic(Generic[P]):
    name: str
    payload_type: type[P]
    key: str  # what the outbox key is for this topic (per-key order)

    def emit(self, session: Session, payload: P, *, key: str | None, not_before: datetime | None = None) -> str:
        """Enqueue `payload` in the caller's transaction; returns the message id."""
        self._check(payload)
        return enqueue(session, self.name, payload, key=key, not_before=not_before)

    def emit_many(self, session: Session, items: Sequence[tuple[P, str | None]]) -> list[str]:
        """Enqueue several (payload, key) pairs in one bulk insert; returns the message ids in order."""
        for item, _ in items:
            self._check(item)
        return enqueue_many(session, self.name, items)

    def emit_select(self, session: Session, rows: Select[Any]) -> int:
        """Enqueue one message per row of `rows` (columns ``payload`` typed JSON, ``key``, ``position``), made by
        the database (``outbox.enqueue_select``); the payload's keys are checked on the first row."""
        first = session.execute(rows.limit(1)).first()
        if first is None:
            return 0
        self._check(first.payload)
        return enqueue_select(session, self.name, rows)

    def payload(self, message: OutboxMessage) -> P:
        """The message's payload as this topic's type (a handler reads only its own topic)."""
        if message.topic != self.name:
            raise ValueError(f"message {message.message_id} is {message.topic}, not {self.name}")
        return cast(P, message.payload)

    def _check(self, payload: Mapping[str, Any]) -> None:
        required: frozenset[str] = getattr(self.payload_type, "__required_keys__", frozenset())
        allowed = required | getattr(self.payload_type, "__optional_keys__", frozenset())
        missing, unknown = required - payload.keys(), payload.keys() - allowed
        if missing or unknown:
            raise TypeError(f"{self.name} payload: missing {sorted(missing)}, unknown {sorted(unknown)}")


@dataclass(frozen=True)
class Consumer:
    name: str  # the inbox is keyed by it: never rename a consumer that has processed messages
    topic: Topic[Any]
    purpose: str


# -- payloads ---------------------------------------------------------------------------------------------------
class SeriesRef(TypedDict):
    accounting_point: str
    start: str  # ISO instants
    end: str
    resolution: str
    version: int


class MeteringReceived(TypedDict):
    message_pk: int  # the registry row of the message; the heat CSV import uses 0
    sender: str
    series: list[SeriesRef]


class PriceSpan(TypedDict):
    zone: str
    start: str
    end: str


class PricesImported(TypedDict):
    import_id: int
    spans: list[PriceSpan]


class RerateRequested(TypedDict):
    accounting_point: str
    period_start: str  # local dates, end exclusive
    period_end: str
    cause: str


class AccountingPointChanged(TypedDict):
    gsrn: str
    valid_from: str


class _AgreementEvent(TypedDict):
    accounting_point: str | None
    agreement_id: str | None
    event: Literal["new", "ended"]


class AgreementChanged(_AgreementEvent, total=False):
    # (total=False, not NotRequired: the postponed annotations of this module hide NotRequired from TypedDict)
    start: str | None  # new: the agreement's start and end (None: open)
    end: str | None  # ended: the end the notice sets
    reason: str | None
    process_message_pk: int


class ReleaseParked(TypedDict):
    parked_id: int
    because: list[str] | str  # the accounting points now known, or "recheck"


class DatahubSend(TypedDict):
    message_id: str


class RatingRevised(TypedDict):
    rating_result_id: int
    accounting_point: str
    period_start: str  # local dates, end exclusive
    period_end: str
    revision: int  # ≥ 2
    cause: str  # what re-rated it: "metering.received:<message id>", "prices.imported:<…>", …


class FinalInvoiceDue(TypedDict):
    accounting_point: str
    agreement_id: str | None
    end: str  # the ISO instant supply ended
    reason: str | None


class DocumentReleased(TypedDict):
    """An issued invoice or credit note (``gateway.billing.issuing.release_payload``)."""

    invoice_id: int
    kind: str  # invoice | credit_note
    entity: str
    number: str
    reference: str  # national
    reference_rf: str
    payment_reference: str  # the one the payer is asked to use (the provider job's billcode)
    total_excl_vat: str
    total_vat: str
    total: str
    currency: str
    invoice_date: str
    due_date: str
    customer_id: int
    customer_type: str  # consumer | business
    channel: str
    provider_account: str | None  # from the catalogue's legal entity at release
    provider_mode: str | None  # print_only | full_service
    original_invoice_id: int | None
    final: bool


class ProviderRequestQueued(TypedDict):
    request_id: int  # a provider_request row: a payment report or a reminder / collection hand-over


# -- topics -----------------------------------------------------------------------------------------------------
METERING_RECEIVED: Final[Topic[MeteringReceived]] = Topic(
    "metering.received", MeteringReceived,
    key="the message id (heat imports: point and time): no order between messages")
PRICES_IMPORTED: Final[Topic[PricesImported]] = Topic("prices.imported", PricesImported, key="prices:<import id>")
RATING_RERATE: Final[Topic[RerateRequested]] = Topic(
    "rating.rerate", RerateRequested,
    key="<accounting point>:<period start>:<period end>: one period's re-ratings in order")
ACCOUNTING_POINT_CHANGED: Final[Topic[AccountingPointChanged]] = Topic(
    "masterdata.accounting_point", AccountingPointChanged, key="the accounting point")
AGREEMENT_CHANGED: Final[Topic[AgreementChanged]] = Topic(
    "masterdata.agreement", AgreementChanged,
    key="the accounting point: an agreement's end never overtakes its start")
RELEASE_PARKED: Final[Topic[ReleaseParked]] = Topic(
    "gateway.release_parked", ReleaseParked,
    key="None when master data arrives; the parked message's registry id for rechecks")
DATAHUB_SEND: Final[Topic[DatahubSend]] = Topic(
    "datahub.send", DatahubSend,
    key="the accounting point (else the message id): our messages for a point in order")

RATING_REVISED: Final[Topic[RatingRevised]] = Topic(
    "rating.revised", RatingRevised,
    key="<accounting point>:<period start>: one period's revisions in order")
FINAL_INVOICE_DUE: Final[Topic[FinalInvoiceDue]] = Topic(
    "billing.final_invoice", FinalInvoiceDue,
    key="final:<accounting point> (delayed with not_before; retried daily until six weeks after the end)")

INVOICE_RELEASED: Final[Topic[DocumentReleased]] = Topic(
    "invoice.released", DocumentReleased, key="<entity>:<invoice number>")
CREDIT_NOTE_RELEASED: Final[Topic[DocumentReleased]] = Topic(
    "credit_note.released", DocumentReleased, key="<entity>:<credit note number>")
PROVIDER_REQUEST: Final[Topic[ProviderRequestQueued]] = Topic(
    "payments.provider_request", ProviderRequestQueued,
    key="invoice:<invoice id>: one invoice's payment reports and hand-overs in order")

TOPICS: Final[tuple[Topic[Any], ...]] = (
    METERING_RECEIVED, PRICES_IMPORTED, RATING_RERATE, ACCOUNTING_POINT_CHANGED, AGREEMENT_CHANGED,
    RELEASE_PARKED, DATAHUB_SEND, RATING_REVISED, FINAL_INVOICE_DUE, INVOICE_RELEASED, CREDIT_NOTE_RELEASED,
    PROVIDER_REQUEST,
)

# -- consumers --------------------------------------------------------------------------------------------------
PARKED_RELEASE: Final = Consumer("gateway.parked", RELEASE_PARKED,
                                 "runs a parked message's checks again and applies it when nothing is missing")
DATAHUB_SENDER: Final = Consumer("gateway.datahub_send", DATAHUB_SEND,
                                 "sends the outbound message with sendMessage (an external call)")
RERATE_ON_METERING: Final = Consumer("rating.rerate-on-metering", METERING_RECEIVED,
                                     "re-rates the recorded periods the new series touch")
RERATE_ON_PRICES: Final = Consumer("rating.rerate-on-prices", PRICES_IMPORTED,
                                   "re-rates the recorded periods of spot customers in the zones and spans")
RERATE_PERIOD: Final = Consumer("rating.rerate-period", RATING_RERATE, "re-rates one period, storing a delta")
RERATE_ON_MASTER_DATA: Final = Consumer(
    "rating.rerate-on-master-data", ACCOUNTING_POINT_CHANGED,
    "re-rates the point's recorded periods from the new version's start (tax category, fuse)")
RERATE_ON_AGREEMENT: Final = Consumer(
    "rating.rerate-on-agreement", AGREEMENT_CHANGED,
    "re-rates the point's recorded periods the agreement's start, end or product changes")

BILLING_CORRECTIONS: Final = Consumer(
    "billing.corrections", RATING_REVISED,
    "a re-rated billed period: credit note and corrected invoice now, or a delta carried to the next invoice")
BILLING_AGREEMENT_ENDED: Final = Consumer(
    "billing.agreement-ended", AGREEMENT_CHANGED, "an ended agreement (F06) schedules its final invoice")
BILLING_FINAL_INVOICE: Final = Consumer(
    "billing.final-invoice", FINAL_INVOICE_DUE, "issues the final invoice of an ended agreement")

PROVIDER_JOBS: Final = Consumer(
    "payments.provider-jobs", INVOICE_RELEASED,
    "creates the invoice's job at the payment provider (POST /jobs, an external call; billcode = the reference)")
PROVIDER_CREDIT_NOTES: Final = Consumer(
    "payments.provider-credit-notes", CREDIT_NOTE_RELEASED,
    "reports the credit note against the original invoice's job (POST /jobs/payment, an external call)")
PROVIDER_REQUESTS: Final = Consumer(
    "payments.provider-requests", PROVIDER_REQUEST,
    "sends a queued payment report (POST /jobs/payment) or reminder / collection hand-over (POST /jobs)")

CONSUMERS: Final[tuple[Consumer, ...]] = (
    PARKED_RELEASE, DATAHUB_SENDER, RERATE_ON_METERING, RERATE_ON_PRICES, RERATE_PERIOD, RERATE_ON_MASTER_DATA,
    RERATE_ON_AGREEMENT, BILLING_CORRECTIONS, BILLING_AGREEMENT_ENDED, BILLING_FINAL_INVOICE, PROVIDER_JOBS,
    PROVIDER_CREDIT_NOTES, PROVIDER_REQUESTS,
)


def subscriptions() -> dict[str, str]:
    """consumer → topic, as `outbox.subscriptions.sync` takes them."""
    return {c.name: c.topic.name for c in CONSUMERS}
