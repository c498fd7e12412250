"""Reading a message: hardened parse (structurally absurd documents refused before any schema) → the business
document (a SOAP envelope carries exactly one) → schema by root namespace → XSD (the first MAX_ERRORS errors with
line and column in the bytes received, and their count) → mapping to the domain message. Everything the
pipeline decides without the database."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from gateway.domain.message import DatahubMessage
from gateway.receive.outcomes import MAX_ERRORS, PROCESS, SCHEMA, Issue
from gateway.soap import envelope
from gateway.xml.hardened import XmlInputError, parse_xml
from gateway.xml.schemas import STREAM_FROM, SchemaIssue, SchemaRegistry, UnknownSchemaError, Verdict
from mappings.registry import UnknownDocumentError, mapping_for

# Below this size validation takes well under a millisecond and a thread hand-off would cost more than it hides.
MAP_WHILE_VALIDATING = 64 * 1024
_TEXT = 1_000  # characters kept of an error's text (libxml2 quotes the offending value)
_WSU_ID = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd}Id"


@dataclass(frozen=True)
class Refusal:
    """A document refused before any lookup: unreadable, of an unknown schema, XSD-invalid or not accepted."""

    level: str
    issues: tuple[Issue, ...]
    message_id: str | None = None
    document_type: str | None = None
    look_for_resend: bool = False  # a resend of a stored refusal is answered as the original was
    more_issues: int = 0  # found beyond those listed


Read = DatahubMessage[Any] | Refusal


def message_id_of(read: Read) -> str | None:
    """The id the registry would hold the message under (a refusal's best guess)."""
    return read.message_id if isinstance(read, Refusal) else read.header.message_id


def hint_header(root: etree._Element) -> tuple[str | None, str | None]:
    """Best effort message id and document type from an XSD-invalid document, for the audit log."""
    mid = dtype = None
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        name = etree.QName(el).localname
        if name == "Identification" and mid is None and el.text and etree.QName(el.getparent()).localname == "Header":
            mid = el.text.strip()[:36]
        elif name == "DocumentType" and dtype is None and el.text:
            dtype = el.text.strip()[:8]
        if mid and dtype:
            break
    return mid, dtype


@dataclass
class Arrival:
    """What reading made of the bytes received: the message (or why it is refused), and where in the bytes the
    business document starts when they are a SOAP envelope."""

    data: bytes  # exactly as received
    digest: str  # their SHA-256
    read: Read
    archived: bytes | None = field(default=None, repr=False)  # `data` compressed for the archive, if done ahead
    payload_offset: int | None = None

    @property
    def message_id(self) -> str | None:
        return message_id_of(self.read)


class Reader:
    """Reads documents; large ones are mapped on the calling thread while libxml2 validates on another."""

    def __init__(self, schemas: SchemaRegistry, max_bytes: int) -> None:
        self.schemas = schemas
        self.max_bytes = max_bytes
        self._validator = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="xsd")

    def close(self) -> None:
        self._validator.shutdown()

    def arrive(self, data: bytes, *, envelopes: bool = False, verdict: list[SchemaIssue] | None = None,
               archived: bytes | None = None, parsed: etree._ElementTree | None = None) -> Arrival:
        """Read `data` as received. `envelopes`: a SOAP envelope is read as the one business document it carries
        (errors keep their positions in the envelope); `verdict`: the XSD issues of `data` as the validation
        helper found them, if it did; `parsed`: the tree of `data`, if the caller has parsed it already."""
        located = self.locate(data, envelopes=envelopes, parsed=parsed)
        if isinstance(located, Refusal):
            read: Read = located
            offset = None
        else:
            tree, document, offset = located
            read = self._read(data, tree, document, offset, verdict)
        return Arrival(data, hashlib.sha256(data).hexdigest(), read, archived, offset)

    def locate(self, data: bytes, *, envelopes: bool, parsed: etree._ElementTree | None = None
               ) -> tuple[etree._ElementTree, etree._Element, int | None] | Refusal:
        """The tree of `data`, the business document's root in it, and its offset in `data` when that is an
        envelope (None: `data` is the document); or why `data` is refused before any schema is looked at."""
        if parsed is None:
            try:
                parsed = parse_xml(data, max_bytes=self.max_bytes)
            except XmlInputError as exc:
                return Refusal(SCHEMA, (Issue(exc.code, exc.text, exc.line, exc.column),))
        root = parsed.getroot()
        if not envelopes or not envelope.is_envelope(root):
            return parsed, root, None
        try:
            document = envelope.business_document(root)
        except envelope.SoapRequestError as exc:
            return Refusal(SCHEMA, (Issue(exc.error_code, exc.reason),))
        return parsed, document, envelope.offset_of(data, document)

    def document_bytes(self, data: bytes, payload_offset: int | None) -> bytes | None:
        """The business document of archived bytes as a document of its own (to compare a resend with it)."""
        located = self.locate(data, envelopes=payload_offset is not None)
        if isinstance(located, Refusal):
            return None
        _, document, offset = located
        return data if offset is None else envelope.standalone_document(document)

    def _read(self, data: bytes, tree: etree._ElementTree, root: etree._Element, offset: int | None,
              verdict: list[SchemaIssue] | None) -> Read:
        try:
            entry = self.schemas.entry_for_root(root)
        except UnknownSchemaError as exc:
            line = root.sourceline if isinstance(root.sourceline, int) else None
            return Refusal(SCHEMA, (Issue("SCH.UNKNOWN_SCHEMA", str(exc), line),))
        # Large documents are first validated as a stream (see SchemaRegistry.check_with): an embedded one as the
        # document of its own it is, its errors then located in the envelope.
        document = None if len(data) < STREAM_FROM else data if offset is None else envelope.standalone_document(root)
        mapped: DatahubMessage[Any] | Exception | None = None
        if verdict is not None:
            found = Verdict(verdict[:MAX_ERRORS], len(verdict))
        elif len(data) >= MAP_WHILE_VALIDATING and root.get(_WSU_ID) is None:
            # Validation registers a wsu:Id (the schemas' only xsd:ID, allowed on message roots) in the document's
            # dictionary, which the mapping reads: a document that carries one is validated first, mapped after.
            # libxml2 validates without the GIL: map the (read-only) tree meanwhile. The mapping of a document
            # that turns out invalid is thrown away, errors included; only the XSD's verdict is reported.
            validation = self._validator.submit(self.schemas.check_with, entry, root, limit=MAX_ERRORS,
                                                document=document)
            try:
                mapped = mapping_for(root).parse(root)
            except Exception as exc:
                mapped = exc
            found = validation.result()
        else:
            found = self.schemas.check_with(entry, root, limit=MAX_ERRORS, document=document)
        if found.total:
            mid, dtype = hint_header(root)
            # libxml2 gives no column for XSD errors (0): unknown, not column 0.
            issues = tuple(Issue(i.code, i.text[:_TEXT], i.line or None, i.column or None) for i in found.issues)
            return Refusal(SCHEMA, issues, mid, dtype, look_for_resend=True, more_issues=found.total - len(issues))
        if isinstance(mapped, UnknownDocumentError) or mapped is None:
            try:
                mapped = mapping_for(root).parse(root)
            except UnknownDocumentError:
                mid, dtype = hint_header(root)
                return Refusal(PROCESS, (Issue(
                    "PRC.DOCUMENT_NOT_ACCEPTED",
                    f"{etree.QName(root).localname} is not a message this gateway accepts"),), mid, dtype)
        if isinstance(mapped, Exception):
            raise mapped
        return mapped
