"""The checks that need the database, one implementation for every path: a resend of a stored message, the
parties and process rules, and the event checks (known accounting points, active agreements, repeated
transaction ids). A batch of messages is checked with one lookup per kind; a single message is a batch of one.

Every message of a batch is checked against the state before the batch: the caller puts into one batch only
messages that do not depend on each other's effects (see `gateway.receive.group`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import or_, select, union
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.apply import active_agreements
from gateway.domain.codes import ACK_STATUS
from gateway.domain.message import DatahubMessage
from gateway.parties import PartyInfo, party_info
from gateway.process_rules import check_process
from gateway.receive.outcomes import (
    ACCEPTED,
    DUPLICATE,
    EVENT,
    PARKED,
    PROCESS,
    REJECTED,
    SCHEMA,
    Draft,
    Issue,
    ReceiveOutcome,
    capped,
)
from gateway.receive.reading import Arrival, Refusal
from gateway.store.queries import in_values
from gateway.store.rating_tables import ProductAssignmentRow
from gateway.store.tables import (
    AccountingPointRow,
    MessageRecord,
    Party,
    PartyQueueItem,
    RawMessage,
    SalesAgreementRow,
    TransactionRecord,
)
from gateway.validation import EC, CheckResult, EventError, check_message, known_in

DUPLICATE_TRANSACTION = EC.TRANSACTION_REPEATED
DUPLICATE_MESSAGE_ID = "PRC.DUPLICATE_MESSAGE_ID"


# Whether archived bytes (with their payload offset) hold the same document as new bytes (equal after
# canonicalisation).
SameDocument = Callable[[bytes, int | None, bytes], bool]


def check(
    session: Session, arrivals: Sequence[Arrival], sender: str, channel: str, *, allow_parking: bool,
    same_document: SameDocument,
) -> list[Draft | ReceiveOutcome]:
    """For each arrival, what to store (a Draft) or, for a resend of a stored message, the answer."""
    out: list[Draft | ReceiveOutcome | None] = [None] * len(arrivals)
    looked_for = [a.message_id if isinstance(a.read, DatahubMessage) or a.read.look_for_resend else None
                  for a in arrivals]
    stored = _stored(session, sender, [m for m in looked_for if m])
    messages: list[tuple[int, DatahubMessage[Any]]] = []
    for n, (arrival, mid) in enumerate(zip(arrivals, looked_for, strict=True)):
        record = stored.get(mid) if mid else None
        if record is not None:
            out[n] = _resend(session, record, arrival, sender, channel, same_document)
        elif isinstance(arrival.read, Refusal):
            refusal = arrival.read
            out[n] = Draft(arrival.data, arrival.digest, sender, channel, REJECTED, refusal.level, refusal.message_id,
                           refusal.document_type, reason_code=refusal.issues[0].code if refusal.issues else None,
                           errors=refusal.issues, more_errors=refusal.more_issues, archived=arrival.archived,
                           payload_offset=arrival.payload_offset)
        else:
            messages.append((n, arrival.read))
    if messages:
        parties, ours = parties_and_ours(session, {sender, *(m.header.juridical_sender for _, m in messages)})
        authenticated = parties.get(sender)
        used = used_transaction_ids(session, sender, [t for _, m in messages for t in transaction_ids(m)])
        known = known_points(session, [p for _, m in messages for p in points_of(m)]) if authenticated else set()
        for n, message in messages:
            arrival = arrivals[n]
            header = message.header
            draft = Draft(arrival.data, arrival.digest, sender, channel, ACCEPTED, None, header.message_id,
                          header.document_type, business_process=message.context.business_process,
                          message=message, archived=arrival.archived, payload_offset=arrival.payload_offset)
            if authenticated is None:
                out[n] = replace(draft, status=REJECTED, level=PROCESS, reason_code="PRC.UNKNOWN_PARTY",
                                 errors=(Issue("PRC.UNKNOWN_PARTY", f"{sender} is not a registered party"),))
                continue
            violations = check_process(message, authenticated, parties.get(header.juridical_sender), ours)
            if violations:
                errors, more = capped(tuple(Issue(v.code, v.text) for v in violations))
                out[n] = replace(draft, status=REJECTED, level=PROCESS, reason_code=violations[0].code,
                                 errors=errors, more_errors=more)
                continue
            result = event_check(session, message, sender, ours, known, used)
            out[n] = decide(draft, result, known, allow_parking)
    return [o for o in out if o is not None]


def decide(draft: Draft, result: CheckResult, known: set[str], allow_parking: bool) -> Draft:
    """The draft for a message with these event-check results: parked, accepted, partially or not at all."""
    errors, more = capped(event_issues(result))
    if result.only_ordering_errors and allow_parking:
        assert draft.message is not None
        waiting = tuple(sorted(set(points_of(draft.message)) - known))
        return replace(draft, status=PARKED, level=EVENT, check=result, waiting_for=waiting, errors=errors,
                       more_errors=more, reason_code=None)
    reason = result.reason_code
    status = ACK_STATUS[reason]
    return replace(draft, status=status, level=EVENT if status != ACCEPTED else None, reason_code=reason,
                   check=result, errors=errors, more_errors=more)


def event_check(
    session: Session, message: DatahubMessage[Any], sender: str, ours: frozenset[str], known: set[str],
    used: set[str],
) -> CheckResult:
    """The event checks of one message. `known`: the accounting points we know (of those it names); `used`: the
    transaction ids the sender has already used (of those it carries)."""
    # Master data introduces accounting points; everything else must refer to a known one.
    lookup = None if message.document_type in ("E58", "F01", "ACK") else known_in(known)
    result = check_message(message, lookup, our_glns=ours)
    result = _agreements_to_end(session, message, result)
    if not used.intersection(transaction_ids(message)):
        return result
    results = tuple(
        replace(r, errors=(*r.errors, EventError(
            DUPLICATE_TRANSACTION, f"transaction {r.transaction_id} was already received from {sender}",
            r.transaction_id)))
        if r.transaction_id in used else r
        for r in result.transactions
    )
    return CheckResult(result.message_id, result.message_errors, results)


def _agreements_to_end(session: Session, message: DatahubMessage[Any], result: CheckResult) -> CheckResult:
    """An end notice must name an active agreement of ours; acknowledging one that changes nothing would leave
    the agreement billed."""
    if message.document_type != "F06":
        return result
    results = []
    for outcome, notice in zip(result.transactions, message.transactions, strict=True):
        if outcome.accepted and not active_agreements(session, notice.agreement_id, notice.accounting_point):
            outcome = replace(outcome, errors=(EventError(
                EC.AGREEMENT_NOT_FOUND,
                f"no active agreement {notice.agreement_id or ''} for accounting point "
                f"{notice.accounting_point or '(none given)'}".replace("  ", " "), outcome.transaction_id),))
        results.append(outcome)
    return CheckResult(result.message_id, result.message_errors, tuple(results))


def event_issues(result: CheckResult) -> tuple[Issue, ...]:
    return tuple(Issue(e.code, e.text, transaction_id=e.transaction_id) for e in result.errors)


# -- lookups ------------------------------------------------------------------------------------------------
def points_of(message: DatahubMessage[Any]) -> list[str]:
    return [p for t in message.transactions if (p := getattr(t, "accounting_point", None))]


def transaction_ids(message: DatahubMessage[Any]) -> list[str]:
    return [t for t in (getattr(x, "transaction_id", None) for x in message.transactions) if t]


def parties_and_ours(session: Session, glns: set[str]) -> tuple[dict[str, PartyInfo], frozenset[str]]:
    """The named parties, and every GLN of our own, in one query."""
    rows = session.execute(
        select(Party).where(or_(col(Party.gln).in_(sorted(glns)), col(Party.own).is_(True)))).scalars().all()
    return ({p.gln: party_info(p) for p in rows if p.gln in glns},
            frozenset(p.gln for p in rows if p.own))


def own_glns(session: Session) -> frozenset[str]:
    return frozenset(session.execute(select(col(Party.gln)).where(col(Party.own).is_(True))).scalars())


def known_points(session: Session, gsrns: Sequence[str]) -> set[str]:
    """Accounting points we know: from master data, from an agreement, or (heat meters are not in Datahub) from a
    district-heating product assignment. One round trip."""
    wanted = sorted(set(gsrns))
    if not wanted:
        return set()
    query = union(
        select(col(AccountingPointRow.gsrn)).where(in_values(session, col(AccountingPointRow.gsrn), wanted)),
        select(col(SalesAgreementRow.accounting_point))
        .where(in_values(session, col(SalesAgreementRow.accounting_point), wanted)),
        select(col(ProductAssignmentRow.accounting_point))
        .where(in_values(session, col(ProductAssignmentRow.accounting_point), wanted)),
    )
    return set(session.execute(query).scalars())


def used_transaction_ids(
    session: Session, sender: str, ids: Sequence[str], *, except_message_pk: int | None = None
) -> set[str]:
    """Which of `ids` the sender has used already (`except_message_pk`: not counting that message's own)."""
    if not ids:
        return set()
    q = select(col(TransactionRecord.transaction_id)).where(
        col(TransactionRecord.sender_gln) == sender, in_values(session, col(TransactionRecord.transaction_id), ids))
    if except_message_pk is not None:  # a parked message's own transactions are not repeats
        q = q.where(col(TransactionRecord.message_pk) != except_message_pk)
    return set(session.execute(q).scalars())


def _stored(session: Session, sender: str, message_ids: list[str]) -> dict[str, MessageRecord]:
    if not message_ids:
        return {}
    records = session.execute(select(MessageRecord).where(
        col(MessageRecord.sender_gln) == sender, in_values(session, col(MessageRecord.message_id), message_ids)
    )).scalars()
    return {r.message_id: r for r in records if r.message_id is not None}


# -- resends ------------------------------------------------------------------------------------------------
def _resend(
    session: Session, record: MessageRecord, arrival: Arrival, sender: str, channel: str,
    same_document: SameDocument,
) -> ReceiveOutcome | Draft:
    """The answer to a message id already received from `sender`: the original's for the same document, a
    refusal (stored as such, without the id) for other content."""
    message_id = record.message_id
    stored = session.get(RawMessage, record.raw_id) if record.sha256 != arrival.digest else None
    if record.sha256 == arrival.digest or (
            stored is not None and same_document(zlib.decompress(stored.body), stored.payload_offset, arrival.data)):
        ack = None
        if record.ack_message_id:
            ack = session.execute(
                select(col(PartyQueueItem.body)).where(col(PartyQueueItem.message_id) == record.ack_message_id)
            ).scalar_one_or_none()
        # A resend of a message refused at schema or process level gets the same refusal (a Fault) again.
        refused = record.status == REJECTED and record.level in (SCHEMA, PROCESS)
        errors = tuple(Issue.from_dict(e) for e in record.errors or [])
        return ReceiveOutcome(
            REJECTED if refused else DUPLICATE, record.level if refused else None, message_id,
            record.document_type, record.reason_code, errors, ack, record.id, record.transactions, sender,
            max(0, (record.error_count or 0) - len(errors)),
        )
    # Same id, other bytes: refused, and the first message stays exactly as it was.
    return Draft(
        arrival.data, arrival.digest, sender, channel, REJECTED, PROCESS, message_id, None,
        reason_code=DUPLICATE_MESSAGE_ID,
        errors=(Issue(DUPLICATE_MESSAGE_ID,
                      f"message id {message_id} was already received from {sender} with different content; "
                      "a resend needs a new message id"),),
        claims_id=False, archived=arrival.archived, payload_offset=arrival.payload_offset,
    )
