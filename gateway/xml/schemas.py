"""Pick the XSD for a document by its root element's namespace and validate it, collecting every error.

Schemas are compiled lazily, once per namespace, and cached. An ``lxml.etree.XMLSchema`` keeps its error log
on the object, so one compiled validator must not be used by two threads at once: each entry keeps a small
pool of compiled validators. A single thread always reuses the one compiled validator; concurrent callers
compile at most one extra validator each (a Datahub schema compiles in about 10 ms).

Versioning: Datahub namespaces end in ``:v1`` while the schema files carry ``version="2.3.4.0"``; ENTSO-E
and camt.054 put the version in the namespace; Finvoice has no namespace and is keyed by its root element
name (its ``Version`` attribute is checked by the XSD itself).
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, NamedTuple

from lxml import etree

from gateway.xml.hardened import parse_xml

SCHEMA_ROOT: Final = Path(__file__).resolve().parents[2] / "schemas"
XSD_NS: Final = "http://www.w3.org/2001/XMLSchema"
DATAHUB_NAMESPACE_PREFIX: Final = "urn:fi:Datahub:mif:"


class SchemaIssue(NamedTuple):
    """One XSD validation error. ``code`` is ``XSD.<libxml2 error name>``; ``line``/``column`` are 1-based
    positions in the validated document (column is 0 when libxml2 does not know it)."""

    code: str
    text: str
    line: int
    column: int


class Verdict(NamedTuple):
    """The first XSD issues of a document (at most the limit asked for) and how many there are in all."""

    issues: list[SchemaIssue]
    total: int


class UnknownSchemaError(LookupError):
    """No registered schema for the document's root element."""

    def __init__(self, namespace: str, local_name: str) -> None:
        shown = f"{{{namespace}}}{local_name}" if namespace else local_name
        super().__init__(f"no schema is registered for root element {shown}")
        self.namespace = namespace
        self.local_name = local_name


@dataclass(eq=False)
class SchemaEntry:
    """One compilable schema file and the document roots it validates."""

    family: str
    namespace: str
    path: Path
    root_names: frozenset[str]
    version: str | None = None
    _pool: queue.SimpleQueue[etree.XMLSchema] = field(default_factory=queue.SimpleQueue, repr=False)
    _compile_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _compiled_count: int = field(default=0, repr=False)

    @property
    def compiled_count(self) -> int:
        """How many validators have been compiled for this entry (1 unless used concurrently)."""
        return self._compiled_count

    @contextmanager
    def validator(self) -> Iterator[etree.XMLSchema]:
        """Borrow a compiled validator for exclusive use by the calling thread."""
        try:
            schema = self._pool.get_nowait()
        except queue.Empty:
            schema = self._compile()
        try:
            yield schema
        finally:
            self._pool.put(schema)

    def _compile(self) -> etree.XMLSchema:
        with self._compile_lock:
            # Our own schema files are trusted, but nothing should reach the network while compiling.
            parser = etree.XMLParser(no_network=True, resolve_entities=False)
            schema = etree.XMLSchema(etree.parse(str(self.path), parser))
            self._compiled_count += 1
            return schema


class SchemaRegistry:
    """Registered schemas, looked up by (namespace, root local name)."""

    def __init__(self, entries: Iterable[SchemaEntry]) -> None:
        self._by_namespace: dict[str, list[SchemaEntry]] = {}
        for entry in entries:
            self._by_namespace.setdefault(entry.namespace, []).append(entry)

    @classmethod
    def default(cls, schema_root: Path = SCHEMA_ROOT) -> SchemaRegistry:
        """Datahub 2.3.4.0 message schemas, Finvoice 3.0, camt.054.001.02, ENTSO-E publication 7.0 and 7.3."""
        entries = list(_datahub_entries(schema_root / "datahub-2.3.4.0"))
        entries.append(_entry("finvoice-3.0", schema_root / "finvoice-3.0" / "Finvoice3.0.xsd"))
        entries.append(_entry("camt.054.001.02", schema_root / "camt.054.001.02" / "camt.054.001.02.xsd"))
        for version in ("7_0", "7_3"):
            path = schema_root / "entsoe" / f"iec62325-451-3-publication_v{version}.xsd"
            entries.append(_entry(f"entsoe-publication-{version.replace('_', '.')}", path))
        return cls(entries)

    @property
    def namespaces(self) -> list[str]:
        return sorted(self._by_namespace)

    def entries(self) -> list[SchemaEntry]:
        return [entry for group in self._by_namespace.values() for entry in group]

    def entry_for(self, namespace: str, local_name: str) -> SchemaEntry:
        candidates = self._by_namespace.get(namespace, [])
        for entry in candidates:
            if local_name in entry.root_names:
                return entry
        # A known namespace with an unexpected root is a validation error (reported by the XSD with its
        # line), not an unknown schema; without a namespace only the root name identifies the schema.
        if len(candidates) == 1 and namespace:
            return candidates[0]
        raise UnknownSchemaError(namespace, local_name)

    def entry_for_root(self, root: etree._Element) -> SchemaEntry:
        qname = etree.QName(root)
        return self.entry_for(qname.namespace or "", qname.localname)

    def validate(self, tree: etree._ElementTree | etree._Element) -> list[SchemaIssue]:
        """Every XSD error of the document (empty when valid). Raises ``UnknownSchemaError``."""
        root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
        return self.validate_with(self.entry_for_root(root), tree)

    def validate_with(self, entry: SchemaEntry, tree: etree._ElementTree | etree._Element) -> list[SchemaIssue]:
        with entry.validator() as schema:
            if schema.validate(tree):
                return []
            return [
                SchemaIssue(f"XSD.{error.type_name}", error.message, error.line, error.column)
                for error in schema.error_log  # type: ignore[attr-defined]
            ]

    def check_with(
        self, entry: SchemaEntry, tree: etree._ElementTree | etree._Element, *, limit: int,
        document: bytes | None = None,
    ) -> Verdict:
        """The first `limit` XSD issues of the document and their total count, in time linear in its size.

        lxml computes the path of every error's node, which walks all of its preceding siblings: validating a tree
        with many errors takes quadratic time (150,000 invalid values in one series: four minutes). So a large
        `document` (its bytes, from which `tree` was parsed) is first validated as a stream — libxml2 parses it
        again without building a tree, the schema plugged into the parser, each error counted — and only a
        document found to have few errors is validated on the tree, for their line and column. Errors beyond
        the limit are located by element name in document order (streaming errors carry no position)."""
        if document is None or len(document) < STREAM_FROM:
            issues = self.validate_with(entry, tree)
            return Verdict(issues[:limit], len(issues))
        streamed = _stream_errors(entry, document)
        if not streamed:
            return Verdict([], 0)
        if len(streamed) <= limit:
            issues = self.validate_with(entry, tree)
            if issues:
                return Verdict(issues[:limit], len(issues))
        root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
        return Verdict(_located(root, streamed[:limit]), len(streamed))

    def preload(self) -> None:
        """Compile every registered schema now (e.g. at start-up) instead of on first use."""
        for entry in self.entries():
            with entry.validator():
                pass


# From this size a document's XSD errors are counted on a stream before the tree is validated (see `check_with`).
STREAM_FROM: Final = 256 * 1024
_ERROR_ELEMENT: Final = re.compile(r"^Element '([^']+)'")


class _NoTree:
    """A parser target that builds nothing: the stream is only validated."""

    def close(self) -> None:
        return None


def _stream_errors(entry: SchemaEntry, document: bytes) -> list[SchemaIssue]:
    """Every XSD error of `document`, validated while it is parsed (no tree, no node paths), without positions."""
    with entry.validator() as schema:
        parser = etree.XMLParser(schema=schema, target=_NoTree(),  # type: ignore[arg-type]
                                 resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
        with contextlib.suppress(etree.XMLSyntaxError):  # the errors are in the parser's log either way
            etree.fromstring(document, parser)
        return [SchemaIssue(f"XSD.{e.type_name}", e.message, 0, 0) for e in parser.error_log  # type: ignore[attr-defined]
                if e.domain == etree.ErrorDomains.SCHEMASV]


def _located(root: etree._Element, issues: list[SchemaIssue]) -> list[SchemaIssue]:
    """Streamed issues with the line of the element each names: the next element of that name in document order
    (errors come in document order), or line 0 when none is left."""
    remaining: dict[str, Iterator[etree._Element]] = {}
    located = []
    for issue in issues:
        named = _ERROR_ELEMENT.match(issue.text)
        line = 0
        if named is not None:
            elements = remaining.setdefault(named.group(1), root.iter(named.group(1)))
            element = next(elements, None)
            if element is not None and isinstance(element.sourceline, int):
                line = element.sourceline
        located.append(issue._replace(line=line))
    return located


def _datahub_entries(folder: Path) -> Iterator[SchemaEntry]:
    for path in sorted(folder.glob("*/*.xsd")):
        entry = _entry("datahub-2.3.4.0", path)
        if entry.namespace.startswith(DATAHUB_NAMESPACE_PREFIX) and ":elements:" not in entry.namespace:
            yield entry


def _entry(family: str, path: Path) -> SchemaEntry:
    schema = etree.parse(str(path), etree.XMLParser(no_network=True, resolve_entities=False)).getroot()
    roots = frozenset(
        str(element.get("name")) for element in schema.iterchildren(f"{{{XSD_NS}}}element") if element.get("name")
    )
    return SchemaEntry(
        family=family,
        namespace=schema.get("targetNamespace", ""),
        path=path,
        root_names=roots,
        version=schema.get("version"),
    )


_default_lock = threading.Lock()
_default: SchemaRegistry | None = None


def default_registry() -> SchemaRegistry:
    """The process-wide registry over ``schemas/`` (built on first use, thread-safe)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SchemaRegistry.default()
        return _default


def validate(tree: etree._ElementTree | etree._Element) -> list[SchemaIssue]:
    """Validate against the default registry; see ``SchemaRegistry.validate``."""
    return default_registry().validate(tree)


def parse_and_validate(data: bytes, max_bytes: int) -> tuple[etree._ElementTree, list[SchemaIssue]]:
    """Exactly the two first steps of the receive pipeline: hardened parse, then XSD validation.

    The baseline the pipeline benchmark compares against. Raises ``XmlInputError`` or ``UnknownSchemaError``.
    """
    tree = parse_xml(data, max_bytes=max_bytes)
    return tree, validate(tree)
