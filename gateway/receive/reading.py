"""Reading a message: hardened parse → schema by root namespace → XSD (every error, with line and column) →
mapping to the domain message. Everything the pipeline decides without the database."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lxml import etree

from gateway.domain.message import DatahubMessage
from gateway.receive.outcomes import PROCESS, SCHEMA, Issue, capped
from gateway.xml.hardened import XmlInputError, parse_xml
from gateway.xml.schemas import SchemaEntry, SchemaIssue, SchemaRegistry, UnknownSchemaError
from mappings.registry import UnknownDocumentError, mapping_for

# Below this size validation takes well under a millisecond and a thread hand-off would cost more than it hides.
MAP_WHILE_VALIDATING = 64 * 1024
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


class Reader:
    """Reads documents; large ones are mapped on the calling thread while libxml2 validates on another."""

    def __init__(self, schemas: SchemaRegistry, max_bytes: int) -> None:
        self.schemas = schemas
        self.max_bytes = max_bytes
        self._validator = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="xsd")

    def close(self) -> None:
        self._validator.shutdown()

    def parse(self, data: bytes) -> tuple[etree._ElementTree, SchemaEntry] | Refusal:
        try:
            tree = parse_xml(data, max_bytes=self.max_bytes)
        except XmlInputError as exc:
            return Refusal(SCHEMA, (Issue(exc.code, exc.text, exc.line, exc.column),))
        root = tree.getroot()
        try:
            return tree, self.schemas.entry_for_root(root)
        except UnknownSchemaError as exc:
            line = root.sourceline if isinstance(root.sourceline, int) else None
            return Refusal(SCHEMA, (Issue("SCH.UNKNOWN_SCHEMA", str(exc), line),))

    def read(self, data: bytes, verdict: list[SchemaIssue] | None = None) -> Read:
        """The message in `data`, or why it is refused. `verdict`: the XSD issues of `data` as the validation
        helper found them, if it did."""
        parsed = self.parse(data)
        if isinstance(parsed, Refusal):
            return parsed
        tree, entry = parsed
        root = tree.getroot()
        mapped: DatahubMessage[Any] | Exception | None = None
        if verdict is not None:
            issues = verdict
        elif len(data) >= MAP_WHILE_VALIDATING and root.get(_WSU_ID) is None:
            # Validation registers a wsu:Id (the schemas' only xsd:ID, allowed on message roots) in the document's
            # dictionary, which the mapping reads: a document that carries one is validated first, mapped after.
            # libxml2 validates without the GIL: map the (read-only) tree meanwhile. The mapping of a document
            # that turns out invalid is thrown away, errors included; only the XSD's verdict is reported.
            validation = self._validator.submit(self.schemas.validate_with, entry, tree)
            try:
                mapped = mapping_for(root).parse(root)
            except Exception as exc:
                mapped = exc
            issues = validation.result()
        else:
            issues = self.schemas.validate_with(entry, tree)
        if issues:
            mid, dtype = hint_header(root)
            listed, more = capped(tuple(Issue(i.code, i.text, i.line, i.column) for i in issues))
            return Refusal(SCHEMA, listed, mid, dtype, look_for_resend=True, more_issues=more)
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
