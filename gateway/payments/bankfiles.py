"""Bank payment files: recognise the format from the content, validate, stream the entries.

Two formats (DOMAIN §5.2): ISO 20022 camt.054.001.02, validated against the official schema in
``schemas/camt.054.001.02/`` while it streams, and the legacy fixed-width KTL reference-payment file. The
file name says nothing; a file that is neither is refused with a clear error.

Memory stays bounded: camt.054 is read with ``iterparse`` and each entry dropped once mapped; KTL one line
at a time. The size limit is checked before anything is parsed (``DEFAULT_MAX_BANK_FILE_BYTES``, 256 MiB:
the generated 100,000-entry camt.054 is about 55 MB; real files with longer remittance text are larger).

An invalid file raises ``BankFileError`` from ``entries()`` at the point where it stops being valid — after
some entries may already have been yielded. A caller that stores entries does so in one transaction and
commits only once ``entries()`` is exhausted, so nothing of an invalid file is stored; ``validate()`` is the
same pass without keeping anything.

XML safety as in ``gateway.xml.hardened``: UTF-8 only, no DOCTYPE (so no DTD and no entity is ever
processed), nothing fetched from the network, libxml2's depth and size limits on.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Final

from lxml import etree

from gateway.payments.core.entries import BankEntry, BankFileFormat, CreditDebit
from gateway.xml.schemas import SchemaEntry, SchemaRegistry, UnknownSchemaError, default_registry
from mappings import camt054, ktl

DEFAULT_MAX_BANK_FILE_BYTES: Final = 256 * 1024 * 1024
_HEAD_BYTES: Final = 64 * 1024

BANK_TOO_LARGE: Final = "BANK.TOO_LARGE"
BANK_EMPTY: Final = "BANK.EMPTY"
BANK_UNKNOWN_FORMAT: Final = "BANK.UNKNOWN_FORMAT"
BANK_UNSUPPORTED_VERSION: Final = "BANK.UNSUPPORTED_VERSION"
BANK_XML_FORBIDDEN: Final = "BANK.XML_FORBIDDEN"
BANK_XML_INVALID: Final = "BANK.XML_INVALID"
BANK_CONTENT: Final = "BANK.CONTENT"
BANK_KTL_INVALID: Final = "BANK.KTL_INVALID"
BANK_UNREADABLE: Final = "BANK.UNREADABLE"

_XML_DECL: Final = re.compile(rb"^\s*<\?xml\s[^>]*?\?>")
_DECL_ENCODING: Final = re.compile(rb"""encoding\s*=\s*["']([^"']*)["']""")
_ROOT_START: Final = re.compile(rb"<(?![?!])(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)")
_UTF8_BOM: Final = b"\xef\xbb\xbf"


class BankFileError(Exception):
    """A bank file that cannot be imported; ``code`` is one of the ``BANK_*`` constants."""

    def __init__(self, code: str, text: str, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}" + (f", column {column}" if column else "") + ")" if line else ""
        super().__init__(f"{code}: {text}{where}")
        self.code = code
        self.text = text
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class BankFileSummary:
    format: BankFileFormat
    entries: int
    credits: Decimal
    debits: Decimal


def detect_format(head: bytes) -> BankFileFormat:
    """The format of a bank file from its first bytes, or ``BankFileError``."""
    if not head.strip():
        raise BankFileError(BANK_EMPTY, "the file is empty")
    if ktl.looks_like_ktl(head):
        return BankFileFormat.KTL
    body = head[len(_UTF8_BOM):] if head.startswith(_UTF8_BOM) else head
    if body.lstrip()[:1] == b"<":
        _check_xml_prolog(body)
        namespace = _root_namespace(body)
        if namespace == camt054.NAMESPACE:
            return BankFileFormat.CAMT054
        if namespace is not None and namespace.startswith("urn:iso:std:iso:20022:tech:xsd:camt.054."):
            raise BankFileError(BANK_UNSUPPORTED_VERSION, f"{namespace.rsplit(':', 1)[-1]} is not supported; "
                                                          "send camt.054.001.02")
        shown = namespace or "no namespace"
        raise BankFileError(BANK_UNKNOWN_FORMAT, f"an XML document in {shown} is not a camt.054.001.02 notification")
    raise BankFileError(BANK_UNKNOWN_FORMAT, "neither a camt.054.001.02 XML document nor a KTL reference-payment "
                                             "file (90-character records starting with a 0 header)")


class BankFile:
    """One bank file, its format recognised; ``entries()`` streams it (and may be called again)."""

    def __init__(self, name: str, data: bytes | None = None, path: Path | None = None, *,
                 max_bytes: int = DEFAULT_MAX_BANK_FILE_BYTES, registry: SchemaRegistry | None = None) -> None:
        self.name = name
        self._data = data
        self._path = path
        self._registry = registry
        size = len(data) if data is not None else _size(path)
        if size > max_bytes:
            raise BankFileError(BANK_TOO_LARGE, f"the file has {size} bytes; bank files may have at most {max_bytes}")
        self.size = size
        with self._open() as fh:
            self.format = detect_format(fh.read(_HEAD_BYTES))

    @classmethod
    def from_path(cls, path: str | Path, *, max_bytes: int = DEFAULT_MAX_BANK_FILE_BYTES,
                  registry: SchemaRegistry | None = None) -> BankFile:
        return cls(str(path), path=Path(path), max_bytes=max_bytes, registry=registry)

    @classmethod
    def from_bytes(cls, name: str, data: bytes, *, max_bytes: int = DEFAULT_MAX_BANK_FILE_BYTES,
                   registry: SchemaRegistry | None = None) -> BankFile:
        return cls(name, data=data, max_bytes=max_bytes, registry=registry)

    def entries(self) -> Iterator[BankEntry]:
        with self._open() as fh:
            if self.format is BankFileFormat.KTL:
                yield from _ktl_entries(fh)
                return
            with self._schema_entry().validator() as schema:  # held while streaming: one thread per validator
                yield from _camt054_entries(fh, schema)

    def validate(self) -> BankFileSummary:
        count, credits, debits = 0, Decimal(0), Decimal(0)
        for entry in self.entries():
            count += 1
            if entry.credit_debit is CreditDebit.CREDIT:
                credits += entry.amount
            else:
                debits += entry.amount
        return BankFileSummary(self.format, count, credits, debits)

    def _open(self) -> IO[bytes]:
        if self._data is not None:
            return io.BytesIO(self._data)
        assert self._path is not None
        try:
            return self._path.open("rb")
        except OSError as exc:
            raise BankFileError(BANK_UNREADABLE, f"cannot read {self._path}: {exc.strerror}") from None

    def _schema_entry(self) -> SchemaEntry:
        registry = self._registry or default_registry()
        try:
            return registry.entry_for(camt054.NAMESPACE, camt054.ROOT)
        except UnknownSchemaError as exc:  # pragma: no cover - the schema ships with the product
            raise BankFileError(BANK_UNSUPPORTED_VERSION, str(exc)) from None


def _camt054_entries(fh: IO[bytes], schema: etree.XMLSchema) -> Iterator[BankEntry]:
    try:
        yield from camt054.iter_entries(fh, schema=schema)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        message = re.sub(r",? line \d+, column \d+$", "", str(exc.msg or exc)).strip()
        code = BANK_XML_INVALID
        if "entity" in message.lower() or "doctype" in message.lower():
            code = BANK_XML_FORBIDDEN
        raise BankFileError(code, message, line, column) from None
    except camt054.Camt054Error as exc:
        raise BankFileError(BANK_CONTENT, str(exc), exc.line) from None


def _ktl_entries(fh: IO[bytes]) -> Iterator[BankEntry]:
    try:
        yield from ktl.parse_ktl(_bounded_lines(fh))
    except ktl.KtlFormatError as exc:
        raise BankFileError(BANK_KTL_INVALID, exc.text, exc.line) from None


def _bounded_lines(fh: IO[bytes]) -> Iterator[bytes]:
    """Lines of at most a record and its line break: a file without line breaks is never read whole."""
    number = 0
    while True:
        line = fh.readline(ktl.RECORD_LENGTH + 3)
        if not line:
            return
        number += 1
        if not line.endswith(b"\n") and len(line) > ktl.RECORD_LENGTH + 1:
            raise ktl.KtlFormatError(number, f"record is longer than {ktl.RECORD_LENGTH} characters")
        yield line


def _check_xml_prolog(body: bytes) -> None:
    declaration = _XML_DECL.match(body)
    if declaration is not None:
        encoding = _DECL_ENCODING.search(declaration.group(0))
        if encoding is not None and encoding.group(1).decode("ascii", "replace").lower().replace("_", "-") not in (
                "utf-8", "utf8"):
            raise BankFileError(BANK_XML_FORBIDDEN, f"encoding {encoding.group(1).decode('ascii', 'replace')!r}: "
                                                    "bank XML files must be UTF-8")
    root = _ROOT_START.search(body)
    prolog = body[: root.start()] if root else body
    if b"<!DOCTYPE" in prolog.upper():
        raise BankFileError(BANK_XML_FORBIDDEN, "a DOCTYPE is not allowed in a bank file")


def _root_namespace(body: bytes) -> str | None:
    root = _ROOT_START.search(body)
    if root is None:
        return None
    end = body.find(b">", root.end())
    start_tag = body[root.start(): end if end >= 0 else len(body)]
    prefix = root.group(1)
    attribute = b"xmlns:" + prefix if prefix else b"xmlns"
    found = re.search(re.escape(attribute) + rb"""\s*=\s*["']([^"']*)["']""", start_tag)
    return found.group(1).decode("utf-8", "replace") if found else None


def _size(path: Path | None) -> int:
    assert path is not None
    try:
        return path.stat().st_size
    except OSError as exc:
        raise BankFileError(BANK_UNREADABLE, f"cannot read {path}: {exc.strerror}") from None
