"""ACK `AcknowledgementMessage` ⇄ `AckMessage`, and `build_ack_for`, the answer to a received message."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final, Protocol

from gateway.domain.acknowledgement import (
    AckMessage,
    Acknowledgement,
    EventReason,
    SeriesDetail,
    SeriesReason,
)
from gateway.domain.codes import DocumentType, Process, Role
from gateway.domain.message import DatahubMessage, MessageHeader, ProcessContext
from mappings.common import (
    DocumentSpec,
    Element,
    all_texts,
    children_by_name,
    optional_text,
    parse_message,
    required_text,
    serialize,
    start_message,
    sub,
    sub_nfi,
    sub_opt,
    transaction,
)

SPEC: Final = DocumentSpec(
    document_type=DocumentType.ACK,
    root_ns="urn:fi:Datahub:mif:common:ACK_Acknowledgement:v1",
    elm_ns="urn:fi:Datahub:mif:common:ACK_Acknowledgement:elements:v1",
    root_name="AcknowledgementMessage",
    wrapper_name="Acknowledgement",
    xsd="common/ACK_Acknowledgement.xsd",
)
_E = SPEC.elm_ns

# The process an ACK names when the caller gives none: the one the acknowledged document type
# normally runs in.
DEFAULT_PROCESS_BY_DOCUMENT: Final[dict[str, str]] = {
    DocumentType.E66: Process.METERING_DATA,
    DocumentType.E58: Process.ACCOUNTING_POINT_INFO,
    DocumentType.F01: Process.CUSTOMER_INFO,
    DocumentType.F03: Process.ACCOUNTING_POINT_QUERY,
    DocumentType.F04: Process.NEW_SALES_AGREEMENT,
    DocumentType.F06: Process.AGREEMENT_END_NOTICE,
    DocumentType.F08: Process.METERING_DATA_REQUEST,
}


def parse(root: Element) -> AckMessage:
    return parse_message(root, _parse_transaction)


def _parse_transaction(txn: Element) -> Acknowledgement:
    g = children_by_name(txn)
    reasons = []
    for r in g.get("EventReason", []):
        rg = children_by_name(r)
        reasons.append(
            EventReason(
                code=required_text(rg, "EventReasonCode"),
                text=required_text(rg, "EventReasonText"),
                details=all_texts(rg.get("EventDetails", [])),
            )
        )
    details = []
    for s in g.get("SeriesDetail", []):
        sg = children_by_name(s)
        series_reasons = []
        for sr in sg.get("SeriesReason", []):
            srg = children_by_name(sr)
            series_reasons.append(
                SeriesReason(
                    code=required_text(srg, "SeriesReasonCode"),
                    text=required_text(srg, "SeriesReasonText"),
                    details=all_texts(srg.get("SeriesDetails", [])),
                )
            )
        details.append(
            SeriesDetail(
                series_id=required_text(sg, "SeriesUniqueIdentification"),
                reasons=tuple(series_reasons),
                senders_series_id=optional_text(sg, "SendersSeriesIdentification"),
            )
        )
    return Acknowledgement(
        reason_code=required_text(g, "ReasonCode"),
        event_reasons=tuple(reasons),
        series_details=tuple(details),
    )


def build(message: AckMessage) -> bytes:
    root, wrapper = start_message(SPEC, message.header, message.context)
    for ack in message.transactions:
        el = transaction(wrapper, SPEC)
        sub_nfi(el, _E, "ReasonCode", ack.reason_code)
        for reason in ack.event_reasons:
            r = sub(el, _E, "EventReason")
            sub(r, _E, "EventReasonCode", reason.code)
            sub(r, _E, "EventReasonText", reason.text)
            for detail in reason.details:
                sub(r, _E, "EventDetails", detail)
        for series in ack.series_details:
            s = sub(el, _E, "SeriesDetail")
            sub_opt(s, _E, "SendersSeriesIdentification", series.senders_series_id)
            sub(s, _E, "SeriesUniqueIdentification", series.series_id)
            for sr in series.reasons:
                x = sub(s, _E, "SeriesReason")
                sub(x, _E, "SeriesReasonCode", sr.code)
                sub(x, _E, "SeriesReasonText", sr.text)
                for detail in sr.details:
                    sub(x, _E, "SeriesDetails", detail)
    return serialize(root)


class CodeAndText(Protocol):
    """Anything with an error code and a text: `EventReason` or a validation `EventError`."""

    @property
    def code(self) -> str: ...

    @property
    def text(self) -> str: ...


def _as_event_reason(reason: CodeAndText) -> EventReason:
    if isinstance(reason, EventReason):
        return reason
    return EventReason(code=reason.code, text=reason.text)


def ack_for(
    received_header: MessageHeader,
    our_gln: str,
    reason_code: str,
    event_reasons: Sequence[CodeAndText] = (),
    series_details: Sequence[SeriesDetail] = (),
    message_id: str | None = None,
    *,
    context: ProcessContext | None = None,
    role: str = Role.SUPPLIER,
    creation: datetime | None = None,
) -> AckMessage:
    """The ACK domain object answering `received_header` (see `build_ack_for`)."""
    if context is None:
        process = DEFAULT_PROCESS_BY_DOCUMENT.get(received_header.document_type, Process.METERING_DATA)
        context = ProcessContext(business_process=process, role=role)
    header = MessageHeader(
        message_id=message_id or str(uuid.uuid4()),
        document_type=DocumentType.ACK,
        creation=creation or datetime.now(UTC).replace(microsecond=0),
        physical_sender=our_gln,
        juridical_sender=our_gln,
        juridical_recipient=received_header.juridical_sender,
        physical_recipient=received_header.physical_sender,
        sender_routing_information=received_header.sender_routing_information,
        original_business_document_reference=received_header.message_id,
    )
    return DatahubMessage(
        header=header,
        context=context,
        transactions=(
            Acknowledgement(
                reason_code=reason_code,
                event_reasons=tuple(_as_event_reason(r) for r in event_reasons),
                series_details=tuple(series_details),
            ),
        ),
    )


def build_ack_for(
    received_header: MessageHeader,
    our_gln: str,
    reason_code: str,
    event_reasons: Sequence[CodeAndText],
    series_details: Sequence[SeriesDetail],
    message_id: str | None = None,
    *,
    context: ProcessContext | None = None,
    role: str = Role.SUPPLIER,
    creation: datetime | None = None,
) -> bytes:
    """An ACK (BA01/BA02/BA03) answering a received message, as XML bytes.

    Sender and recipient are swapped (we sign as both physical and juridical sender; the ACK goes to
    the received message's juridical recipient-of-reply, i.e. its juridical sender, via its physical
    sender), `SenderRoutingInformation` is echoed, and `OriginalBusinessDocumentReference` is the
    received message id. `message_id` defaults to a new UUID; `context` defaults to the process the
    received document type runs in, with `role`.
    """
    return build(
        ack_for(
            received_header,
            our_gln,
            reason_code,
            event_reasons,
            series_details,
            message_id,
            context=context,
            role=role,
            creation=creation,
        )
    )
