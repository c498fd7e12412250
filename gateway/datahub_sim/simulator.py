"""The in-memory state of a simulated Datahub: party queues, received messages, ACKs.

Nothing is persisted. Every public method is thread-safe (tests inspect the state while the HTTP server
answers a client running in a worker thread).

Parties are identified by GLN. Over HTTP the caller is identified, in this order, by
``Authorization: Bearer <token>`` looked up in ``parties`` (token → GLN), by the common name of its TLS client
certificate looked up in ``cert_parties`` (CN → GLN; real Datahub identifies parties by client certificate),
or, when ``allow_gln_header`` is on (the sandbox default), by an ``X-Party-GLN: <gln>`` header.

Message domains: each queued message gets a domain BB01..BB06 from its document type. Datahub's real split
of document types over the domains is not in the schema set (unverified); ``DEFAULT_DOMAINS`` below is this
simulator's choice, with metering data in a queue of its own, and can be replaced per instance.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from lxml import etree

from gateway.datahub_sim.faults import FaultInjector
from gateway.domain.acknowledgement import EventReason
from gateway.domain.message import MessageHeader, ProcessContext
from gateway.soap.envelope import DEFAULT_MAX_BYTES, FaultCode, standalone_document
from gateway.xml.hardened import XmlInputError, parse_xml
from gateway.xml.schemas import SchemaRegistry, UnknownSchemaError, default_registry
from mappings.ack import build_ack_for
from mappings.common import message_parts, parse_context, parse_header

# Invented, with a valid GS1 check digit; the real Datahub GLN is configuration (unverified).
DEFAULT_DATAHUB_GLN: Final = "6430000000016"
ACCEPTED: Final = "BA01"
REJECTED: Final = "BA02"

# Simulator's own choice (unverified): BB01 master data and agreements, BB02 metering data, BB03 settlement
# and balance data, BB04 queries and their responses, BB05 invoicing data, BB06 acknowledgements.
DEFAULT_DOMAINS: Final[Mapping[str, str]] = {
    **dict.fromkeys(
        (
            "E58",
            "F01",
            "F04",
            "F05",
            "F06",
            "F09",
            "F11",
            "F12",
            "F15",
            "F18",
            "F22",
            "F23",
            "F24",
            "F26",
            "F27",
        ),
        "BB01",
    ),
    **dict.fromkeys(("E66", "F07", "F08", "F25"), "BB02"),
    **dict.fromkeys(("E31", "E44", "F10", "F19"), "BB03"),
    **dict.fromkeys(("F02", "F03", "F16", "F17", "F20", "F21"), "BB04"),
    **dict.fromkeys(("F13", "F14"), "BB05"),
    "ACK": "BB06",
}
DEFAULT_DOMAIN: Final = "BB01"
_TYPE_IN_NAMESPACE: Final = re.compile(r"^urn:fi:Datahub:mif:[^:]+:([A-Z0-9]+)_")

RejectRule = Callable[[etree._Element, MessageHeader], Sequence[EventReason] | None]
ProcessHandler = Callable[[etree._Element, MessageHeader], bytes]


class SimulatorFault(Exception):
    """An answer that the HTTP layer renders as a SOAP Fault."""

    def __init__(
        self,
        error_code: str,
        reason: str,
        *,
        soap_code: FaultCode = "Sender",
        identification: str | None = None,
        details: str | None = None,
    ) -> None:
        super().__init__(f"{error_code}: {reason}")
        self.error_code = error_code
        self.reason = reason
        self.soap_code: FaultCode = soap_code
        self.identification = identification
        self.details = details


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    ref: str
    recipient: str
    domain: str
    document_type: str
    message_id: str | None
    payload: bytes
    enqueued_at: datetime
    duplicate_of: str | None = None


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A message that Datahub accepted through sendMessage/processMessage (the ACK tells the outcome)."""

    ref: str
    operation: str
    sender: str
    document_type: str
    header: MessageHeader
    payload: bytes
    received_at: datetime
    ack_reason_code: str


@dataclass
class _State:
    queues: dict[str, list[QueuedMessage]] = field(default_factory=dict)
    received: list[ReceivedMessage] = field(default_factory=list)
    seen_message_ids: set[tuple[str, str]] = field(default_factory=set)


def document_type_of(root: etree._Element) -> str:
    """The document type code (E66, F04, ACK …) from the root namespace."""
    namespace = etree.QName(root).namespace or ""
    found = _TYPE_IN_NAMESPACE.match(namespace)
    return found.group(1) if found else "UNKNOWN"


class DatahubSimulator:
    def __init__(
        self,
        *,
        datahub_gln: str = DEFAULT_DATAHUB_GLN,
        parties: Mapping[str, str] | None = None,
        cert_parties: Mapping[str, str] | None = None,
        allow_gln_header: bool = True,
        domains: Mapping[str, str] = DEFAULT_DOMAINS,
        faults: FaultInjector | None = None,
        registry: SchemaRegistry | None = None,
        reject_rule: RejectRule | None = None,
        process_handler: ProcessHandler | None = None,
        check_sender: bool = True,
        timeout_delay: float = 5.0,
        slow_delay: float = 5.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        """``parties``: bearer token → GLN. ``reject_rule`` returns event reasons to answer a received message
        with BA02 (None or empty: BA01). ``process_handler`` answers processMessage (default: the ACK).
        ``check_sender``: the caller must be the Header's physical sender (Datahub's process-level check)."""
        self.datahub_gln = datahub_gln
        self.parties = dict(parties or {})
        self.cert_parties = dict(cert_parties or {})
        self.allow_gln_header = allow_gln_header
        self.domains = dict(domains)
        self.faults = faults or FaultInjector()
        self.registry = registry or default_registry()
        self.reject_rule = reject_rule
        self.process_handler = process_handler
        self.check_sender = check_sender
        self.timeout_delay = timeout_delay
        self.slow_delay = slow_delay
        self._slow_answers_released = threading.Event()
        self.max_bytes = max_bytes
        self._state = _State()
        self._lock = threading.RLock()

    # --- slow answers (the ``slow`` fault) ----------------------------------------------------------------

    def hold_slow_answer(self) -> None:
        """Block for ``slow_delay`` seconds, or until :meth:`release_slow_answers` (run off the event loop)."""
        self._slow_answers_released.wait(self.slow_delay)

    def release_slow_answers(self) -> None:
        """Let every held answer (and every later slow one) go at once."""
        self._slow_answers_released.set()

    # --- identity -----------------------------------------------------------------------------------------

    def identify(self, headers: Mapping[str, str], client_cert_cn: str | None = None) -> str:
        """The caller's GLN from its HTTP headers or TLS client certificate; raises ``SimulatorFault``."""
        authorization = headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            gln = self.parties.get(token.strip())
            if gln is None:
                raise SimulatorFault("SIM.UNKNOWN_PARTY", "the bearer token is not registered")
            return gln
        if client_cert_cn is not None:
            gln = self.cert_parties.get(client_cert_cn)
            if gln is None:
                raise SimulatorFault("SIM.UNKNOWN_PARTY", f"client certificate {client_cert_cn!r} is not registered")
            return gln
        gln_header = headers.get("X-Party-GLN", "").strip()
        if self.allow_gln_header and gln_header:
            return gln_header
        raise SimulatorFault("SIM.UNKNOWN_PARTY", "the caller is not identified (bearer token or X-Party-GLN)")

    # --- queues -------------------------------------------------------------------------------------------

    def domain_for(self, document_type: str) -> str:
        return self.domains.get(document_type, DEFAULT_DOMAIN)

    def enqueue(self, recipient: str, payload: bytes, *, domain: str | None = None) -> QueuedMessage:
        """Put a business document into ``recipient``'s queue (validated like anything Datahub sends)."""
        root = self._parse_valid(payload)
        header = _header_or_none(root)
        document_type = document_type_of(root)
        message = QueuedMessage(
            ref=_new_ref(),
            recipient=recipient,
            domain=domain or self.domain_for(document_type),
            document_type=document_type,
            message_id=header.message_id if header else None,
            payload=payload,
            enqueued_at=datetime.now(UTC),
        )
        with self._lock:
            self._state.queues.setdefault(recipient, []).append(message)
        return message

    def load_scenario(self, directory: Path) -> list[QueuedMessage]:
        """Enqueue every ``*.xml`` of ``directory`` (sorted by name) for its Header's physical recipient."""
        loaded = []
        for path in sorted(directory.glob("*.xml")):
            payload = path.read_bytes()
            root = self._parse_valid(payload, source=str(path))
            header = _header_or_none(root)
            if header is None:
                raise ValueError(f"{path}: no Datahub Header, cannot tell the recipient")
            loaded.append(self.enqueue(header.physical_recipient, payload))
        return loaded

    def queue(self, party: str, domains: Iterable[str] = ()) -> list[QueuedMessage]:
        """A snapshot of ``party``'s queue in delivery order (optionally only the given domains)."""
        wanted = set(domains)
        with self._lock:
            return [m for m in self._state.queues.get(party, []) if not wanted or m.domain in wanted]

    def peek(self, party: str, domains: Sequence[str] = (), *, duplicate: bool = False) -> QueuedMessage | None:
        """The oldest message (of the given domains) without removing it. ``duplicate`` queues a copy of
        it with a new reference right behind it: the same message will be delivered twice."""
        with self._lock:
            queue = self._state.queues.get(party, [])
            for index, message in enumerate(queue):
                if not domains or message.domain in domains:
                    if duplicate:
                        copy = replace(message, ref=_new_ref(), duplicate_of=message.ref)
                        queue.insert(index + 1, copy)
                    return message
            return None

    def dequeue(self, party: str, ref: str) -> QueuedMessage:
        with self._lock:
            queue = self._state.queues.get(party, [])
            for index, message in enumerate(queue):
                if message.ref == ref:
                    return queue.pop(index)
        raise SimulatorFault("SIM.UNKNOWN_REFERENCE", f"no message {ref} in the queue", identification=ref)

    # --- received messages --------------------------------------------------------------------------------

    @property
    def received(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._state.received)

    def receive(
        self, party: str, payload: etree._Element, *, operation: str = "sendMessage", reject: bool = False
    ) -> tuple[ReceivedMessage, bytes]:
        """Accept a business document from ``party``: schema check and process check (Faults), then store
        it and build its ACK (BA02 when ``reject`` or the reject rule says so). Returns record and ACK."""
        document = standalone_document(payload)
        root = self._parse_valid(document)
        parts = _header_and_context(root)
        if parts is None:
            raise SimulatorFault("SIM.NO_HEADER", "the document has no Datahub Header")
        header, context = parts
        if self.check_sender and header.physical_sender != party:
            raise SimulatorFault(
                "SIM.SENDER_NOT_AUTHORISED",
                f"caller {party} is not the physical sender {header.physical_sender}",
                identification=header.message_id,
            )
        reasons: list[EventReason] = []
        if reject:
            reasons.append(EventReason("SIM.INJECTED", "rejected by the simulator's fault injection"))
        if self.reject_rule is not None:
            reasons.extend(self.reject_rule(root, header) or ())
        reason_code = REJECTED if reasons else ACCEPTED
        # The ACK runs in the acknowledged message's process (unverified: which role Datahub puts there).
        ack = build_ack_for(header, self.datahub_gln, reason_code, reasons, (), context=context)
        record = ReceivedMessage(
            ref=_new_ref(),
            operation=operation,
            sender=party,
            document_type=document_type_of(root),
            header=header,
            payload=document,
            received_at=datetime.now(UTC),
            ack_reason_code=reason_code,
        )
        with self._lock:
            key = (header.physical_sender, header.message_id)
            if key in self._state.seen_message_ids:
                raise SimulatorFault(
                    "SIM.DUPLICATE_MESSAGE_ID",
                    f"message id {header.message_id} was already received from {header.physical_sender}",
                    identification=header.message_id,
                )
            self._state.seen_message_ids.add(key)
            self._state.received.append(record)
        return record, ack

    def send_message(self, party: str, payload: etree._Element, *, reject: bool = False) -> str:
        """sendMessage: accept, queue the ACK for the sender, return the DocumentReferenceNumber."""
        record, ack = self.receive(party, payload, operation="sendMessage", reject=reject)
        self.enqueue(party, ack)
        return record.ref

    def process_message(self, party: str, payload: etree._Element, *, reject: bool = False) -> tuple[str, bytes]:
        """processMessage: accept and answer synchronously (the process handler's document, else the ACK)."""
        record, ack = self.receive(party, payload, operation="processMessage", reject=reject)
        if self.process_handler is not None:
            root = parse_xml(record.payload, max_bytes=self.max_bytes).getroot()
            return record.ref, self.process_handler(root, record.header)
        return record.ref, ack

    # --- helpers ------------------------------------------------------------------------------------------

    def _parse_valid(self, payload: bytes, *, source: str = "payload") -> etree._Element:
        try:
            tree = parse_xml(payload, max_bytes=self.max_bytes)
            issues = self.registry.validate(tree)
        except XmlInputError as exc:
            raise SimulatorFault(exc.code, f"{source}: {exc.text}") from None
        except UnknownSchemaError as exc:
            raise SimulatorFault("SIM.UNKNOWN_DOCUMENT", f"{source}: {exc}") from None
        if issues:
            raise SimulatorFault(
                "SIM.SCHEMA_INVALID",
                f"{source}: {len(issues)} schema error(s)",
                details="\n".join(f"line {issue.line}: {issue.text}" for issue in issues),
            )
        return tree.getroot()


def _header_or_none(root: etree._Element) -> MessageHeader | None:
    parts = _header_and_context(root)
    return parts[0] if parts else None


def _header_and_context(root: etree._Element) -> tuple[MessageHeader, ProcessContext] | None:
    try:
        header_element, context_element, _ = message_parts(root)
    except (StopIteration, ValueError, IndexError):
        return None
    if etree.QName(header_element).localname != "Header":
        return None
    return parse_header(header_element), parse_context(context_element)


def _new_ref() -> str:
    return str(uuid.uuid4())
