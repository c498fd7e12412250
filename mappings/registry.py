"""Which mapping handles a message: root namespace → document type, parser, builder and root XSD.

F04 and F06 share the root element `MasterDataContractEventMessage`; only the namespace
(`…:F04_MasterDataContractEvent:v1` vs `…:F06_…`) tells them apart, so the key is the full
`{namespace}localname` of the root.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gateway.domain.message import DatahubMessage
from mappings import ack, e58, e66, f01, f03, f04, f06, f08
from mappings.common import DocumentSpec, Element

SCHEMA_ROOT: Final = Path(__file__).resolve().parent.parent / "schemas" / "datahub-2.3.4.0"


@dataclass(frozen=True, slots=True)
class DocumentMapping:
    spec: DocumentSpec
    parse: Callable[[Element], DatahubMessage[Any]]
    build: Callable[[DatahubMessage[Any]], bytes]

    @property
    def document_type(self) -> str:
        return self.spec.document_type

    @property
    def xsd(self) -> str:
        """Root XSD path relative to `schemas/datahub-2.3.4.0`."""
        return self.spec.xsd

    @property
    def xsd_path(self) -> Path:
        return SCHEMA_ROOT / self.spec.xsd


MAPPINGS: Final[tuple[DocumentMapping, ...]] = tuple(
    DocumentMapping(m.SPEC, m.parse, m.build) for m in (e66, e58, f01, f04, f06, ack, f03, f08)
)

_BY_ROOT_TAG: Final = {m.spec.root_tag: m for m in MAPPINGS}
_BY_NAMESPACE: Final = {m.spec.root_ns: m for m in MAPPINGS}
_BY_TYPE: Final = {m.spec.document_type: m for m in MAPPINGS}


class UnknownDocumentError(LookupError):
    """The root element is not one of the document types this gateway maps."""


def mapping_for(root: Element) -> DocumentMapping:
    tag = root.tag
    found = _BY_ROOT_TAG.get(tag) if isinstance(tag, str) else None
    if found is None:
        raise UnknownDocumentError(f"no mapping for root element {tag!r}")
    return found


def mapping_for_namespace(namespace: str) -> DocumentMapping | None:
    return _BY_NAMESPACE.get(namespace)


def mapping_for_type(document_type: str) -> DocumentMapping:
    try:
        return _BY_TYPE[document_type]
    except KeyError:
        raise UnknownDocumentError(f"no mapping for document type {document_type!r}") from None


def document_type_for(root: Element) -> str:
    """ "E66", "F04", … for a message root element (raises `UnknownDocumentError`)."""
    return mapping_for(root).document_type


def parse_document(root: Element) -> DatahubMessage[Any]:
    """Parse a schema-valid message root into its domain message."""
    return mapping_for(root).parse(root)


def build_document(message: DatahubMessage[Any]) -> bytes:
    """Serialise any domain message by its header's document type."""
    return mapping_for_type(message.header.document_type).build(message)
