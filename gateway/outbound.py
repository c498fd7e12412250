"""Messages we send to Datahub (F04, F06, F03, F08, …): queued in the caller's transaction, sent by the outbox.

* `send_to_datahub(session, document)` builds the XML, validates it against the same XSDs inbound messages
  meet, stores an `OutboundMessage` (status `queued`) and enqueues `datahub.send`, all in the caller's
  transaction: the business change and the message to Datahub commit together or not at all.
* The `datahub.send` consumer is an outbox external call (`outbox.external`): transaction 1 reads the queued
  body (and counts the call), `sendMessage` runs with no transaction open while a heartbeat keeps the lease,
  transaction 2 records the answer only if this worker still owns the delivery. A SOAP Fault is Datahub's
  decision about the message: it is recorded (`failed`, with the fault) and not retried. A transport error
  is raised, so the outbox retries on its durable schedule. On success the DatahubReference is stored and the
  status becomes `sent`. A retry sends the same message id (never a new one): when an earlier call had
  reached Datahub, Datahub refuses the id as a duplicate and the message counts as sent.
* A worker refuses to serve `datahub.send` when one call (timeout × attempts, with the client's waits) can
  outlast the outbox lease: another worker could otherwise send while the first call still runs.
* Datahub's ACK comes back through the pull worker; the receive pipeline sets `accepted`, `rejected` or
  `partially_accepted` on the row. `resend(engine, message_id)` makes a corrected copy under a NEW message id
  (and new transaction ids), linked by `resend_of`: an id is never reused.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import case, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.config import Settings
from gateway.datahub_settings import DatahubSettings, datahub_settings, make_client
from gateway.domain.message import DatahubMessage
from gateway.events import DATAHUB_SEND, DATAHUB_SENDER
from gateway.queries.timeline import record_message_event
from gateway.soap.datahub_client import DatahubClient, DatahubFault
from gateway.store.tables import OutboundMessage
from gateway.xml.hardened import parse_xml
from gateway.xml.schemas import SchemaIssue, default_registry
from mappings.registry import build_document, mapping_for
from outbox import ExternalCall, HandlerRegistry, OutboxMessage
from outbox.types import utcnow

log = logging.getLogger("gateway.outbound")

TOPIC_SEND: Final = DATAHUB_SEND.name
CONSUMER_SEND: Final = DATAHUB_SENDER.name

# DatahubClient waits at most this long between two attempts of one call (its default tenacity wait).
_CLIENT_RETRY_WAIT_MAX: Final = timedelta(seconds=5)

QUEUED: Final = "queued"
SENT: Final = "sent"
SENT_EVENT: Final = SENT  # gateway.queries.timeline.SENT: the kinds of the recorded call outcomes
REFUSED_EVENT: Final = "refused"
FAILED: Final = "failed"
RESENDABLE: Final = frozenset({"rejected", "partially_accepted", FAILED})

# Fault codes meaning "this message id was already received": met on a retry after a send whose result was
# lost (killed between the HTTP answer and our commit), so the message did arrive. Datahub's own code is
# unverified; the simulator's is below. Extend through `register_datahub_send(..., duplicate_fault_codes=…)`.
DEFAULT_DUPLICATE_FAULT_CODES: Final = frozenset({"SIM.DUPLICATE_MESSAGE_ID"})

_MAX_BODY: Final = 50 * 1024 * 1024


class OutboundDocumentError(ValueError):
    """The document we were asked to send is not valid Datahub XML (or its id is already used)."""

    def __init__(self, message: str, issues: Collection[SchemaIssue] = ()) -> None:
        super().__init__(message)
        self.issues = tuple(issues)


def build_outbound(document: DatahubMessage[Any]) -> bytes:
    """The document as XML, validated against its XSD; raises `OutboundDocumentError` when invalid."""
    body = build_document(document)
    issues = default_registry().validate(parse_xml(body, max_bytes=_MAX_BODY))
    if issues:
        listed = "; ".join(f"line {i.line}: {i.text}" for i in issues[:10])
        raise OutboundDocumentError(
            f"{document.document_type} {document.message_id} is not schema-valid ({len(issues)} error(s)): {listed}",
            issues,
        )
    return body


def send_to_datahub(session: Session, document: DatahubMessage[Any], *, resend_of: str | None = None) -> str:
    """Queue `document` for Datahub inside the caller's transaction; returns its message id."""
    body = build_outbound(document)
    message_id = document.message_id
    taken = session.execute(
        select(col(OutboundMessage.id)).where(col(OutboundMessage.message_id) == message_id)
    ).first()
    if taken is not None:
        raise OutboundDocumentError(f"message id {message_id} was already used; a resend needs a new id")
    point = next((p for t in document.transactions if (p := getattr(t, "accounting_point", None))), None)
    now = utcnow()
    session.add(OutboundMessage(
        message_id=message_id, document_type=document.document_type,
        recipient_gln=document.header.juridical_recipient, accounting_point=point, body=body, status=QUEUED,
        resend_of=resend_of, created_at=now, updated_at=now,
    ))
    session.flush()
    DATAHUB_SEND.emit(session, {"message_id": message_id}, key=point or message_id)
    log.info("queued %s %s for Datahub%s", document.document_type, message_id,
             f" (resend of {resend_of})" if resend_of else "")
    return message_id


def resend(
    engine: Engine,
    message_id: str,
    *,
    correct: Callable[[DatahubMessage[Any]], DatahubMessage[Any]] | None = None,
) -> str:
    """Queue a corrected copy of a rejected (or failed) message under a new message id; returns the new id.

    `correct` changes the content (the fix for what Datahub rejected); without it the copy is identical apart
    from its ids and creation time (a resend after a transient rejection)."""
    with Session(engine) as session, session.begin():
        original = session.execute(
            select(OutboundMessage).where(col(OutboundMessage.message_id) == message_id)
        ).scalar_one_or_none()
        if original is None:
            raise LookupError(f"no outbound message {message_id}")
        if original.status not in RESENDABLE:
            raise OutboundDocumentError(
                f"message {message_id} is {original.status}; only {', '.join(sorted(RESENDABLE))} messages are resent")
        root = parse_xml(original.body, max_bytes=_MAX_BODY).getroot()
        renewed = _renewed(mapping_for(root).parse(root))
        copy = correct(renewed) if correct is not None else renewed
        if copy.message_id != renewed.message_id:
            raise OutboundDocumentError("a correction must keep the copy's new message id")
        return send_to_datahub(session, copy, resend_of=message_id)


def _renewed(message: DatahubMessage[Any]) -> DatahubMessage[Any]:
    header = dataclasses.replace(message.header, message_id=str(uuid.uuid4()),
                                 creation=utcnow().replace(microsecond=0))
    transactions = tuple(map(_new_transaction_id, message.transactions))
    return dataclasses.replace(message, header=header, transactions=transactions)


def _new_transaction_id(transaction: Any) -> Any:
    """Only E66 transactions carry an id of their own (the others expose a constant None)."""
    if dataclasses.is_dataclass(transaction) and not isinstance(transaction, type) and any(
            f.name == "transaction_id" for f in dataclasses.fields(transaction)):
        return dataclasses.replace(transaction, transaction_id=str(uuid.uuid4()))
    return transaction


# -- the outbox consumer: an external call ----------------------------------------------------------------------
@dataclass(frozen=True)
class SendRequest:
    message_id: str
    body: bytes


@dataclass(frozen=True)
class SendAnswer:
    """What Datahub said: a reference (None when an earlier call of ours had already delivered the message),
    or a refusal."""

    reference: str | None = None
    fault: DatahubFault | None = None


def call_budget(config: DatahubSettings) -> timedelta:
    """The longest one `sendMessage` can take with these settings: every attempt's timeout and the waits."""
    return timedelta(seconds=config.timeout) * config.retries + _CLIENT_RETRY_WAIT_MAX * (config.retries - 1)


def make_send_call(
    client: Callable[[], DatahubClient],
    *,
    max_duration: timedelta,
    duplicate_fault_codes: Collection[str] = DEFAULT_DUPLICATE_FAULT_CODES,
) -> ExternalCall[SendRequest, SendAnswer]:
    """The `datahub.send` external call; `client` returns the zeep client to use (called once per send)."""

    def prepare(session: Session, message: OutboxMessage) -> SendRequest | None:
        message_id = str(DATAHUB_SEND.payload(message)["message_id"])
        row = session.execute(
            select(OutboundMessage).where(col(OutboundMessage.message_id) == message_id)
        ).scalar_one_or_none()
        if row is None:
            log.error("datahub.send: outbound message %s does not exist; nothing to send", message_id)
            return None
        if row.status != QUEUED:
            log.info("datahub.send: %s is already %s; not sending it again", message_id, row.status)
            return None
        return SendRequest(message_id, row.body)

    def call(request: SendRequest, message: OutboxMessage) -> SendAnswer:
        try:
            return SendAnswer(reference=client().send(request.body))
        except DatahubFault as fault:
            if message.calls > 1 and fault.error_code in duplicate_fault_codes:
                # An earlier call reached Datahub but its answer was lost before our record.
                log.warning("datahub.send: %s was already received by Datahub (%s); marking it sent",
                            request.message_id, fault.error_code)
                return SendAnswer()
            log.warning("datahub.send: Datahub refused %s: %s", request.message_id, fault)
            return SendAnswer(fault=fault)

    def record(session: Session, message: OutboxMessage, answer: SendAnswer) -> None:
        message_id = str(DATAHUB_SEND.payload(message)["message_id"])
        fault = answer.fault
        if fault is None:
            _mark(session, message_id, SENT, answer.reference, None)
        else:
            _mark(session, message_id, FAILED, None, [{
                "code": fault.error_code, "text": fault.reason or fault.details or str(fault),
                "identification": fault.identification, "details": fault.details,
            }])
        _log_call(session, message, message_id, answer)

    return ExternalCall(prepare=prepare, call=call, record=record, max_duration=max_duration)


def _log_call(session: Session, message: OutboxMessage, message_id: str, answer: SendAnswer) -> None:
    """The call's outcome on the message's timeline (support's message log), in the recording transaction."""
    pk = session.execute(
        select(col(OutboundMessage.id)).where(col(OutboundMessage.message_id) == message_id)).scalar_one_or_none()
    if pk is None:
        return
    detail: dict[str, Any] = {"outbox_id": message.id, "calls": message.calls}
    if answer.fault is None:
        detail["datahub_reference"] = answer.reference
        if answer.reference is None:
            detail["note"] = "Datahub already had this message id: an earlier call delivered it"
    else:
        detail["fault"] = answer.fault.error_code
    record_message_event(session, int(pk), SENT_EVENT if answer.fault is None else REFUSED_EVENT, utcnow(), detail,
                         direction="outbound")


def _mark(session: Session, message_id: str, status: str, reference: str | None,
          errors: list[dict[str, Any]] | None) -> None:
    # Conditional on `queued`: an ACK pulled concurrently may already have set accepted/rejected, which wins.
    values: dict[str, Any] = {
        "status": case((col(OutboundMessage.status) == QUEUED, status), else_=col(OutboundMessage.status)),
        "updated_at": utcnow(),
    }
    if reference is not None:
        values["datahub_reference"] = reference
    if errors is not None:
        values["ack_errors"] = errors
    session.execute(update(OutboundMessage).where(col(OutboundMessage.message_id) == message_id).values(**values))


def register_datahub_send(
    registry: HandlerRegistry,
    settings: Settings,
    *,
    client_factory: Callable[[], DatahubClient] | None = None,
    duplicate_fault_codes: Collection[str] = DEFAULT_DUPLICATE_FAULT_CODES,
    max_call_duration: timedelta | None = None,
) -> bool:
    """Serve `datahub.send` with a client from `[datahub]`; without an endpoint nothing is registered.

    `max_call_duration` defaults to what `[datahub] timeout_seconds` and `retries` allow (`call_budget`); give
    it with a `client_factory` whose client is configured otherwise."""
    config = datahub_settings(settings)
    if client_factory is None and not config.endpoint:
        log.info("no [datahub] endpoint configured: datahub.send is not handled by this process "
                 "(outbound messages stay queued)")
        return False
    factory = client_factory or _per_thread(lambda: make_client(config))
    registry.register_external(TOPIC_SEND, make_send_call(
        factory, max_duration=max_call_duration or call_budget(config), duplicate_fault_codes=duplicate_fault_codes,
    ), consumer=CONSUMER_SEND)
    return True


def _per_thread(make: Callable[[], DatahubClient]) -> Callable[[], DatahubClient]:
    """One client per worker thread (a zeep client holds a requests.Session), built on first use."""
    local = threading.local()

    def get() -> DatahubClient:
        client: DatahubClient | None = getattr(local, "client", None)
        if client is None:
            client = make()
            local.client = client
        return client

    return get
