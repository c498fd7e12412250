"""Hardened XML parsing and the schema registry."""

from gateway.xml.hardened import XmlInputError, parse_xml
from gateway.xml.schemas import (
    SchemaIssue,
    SchemaRegistry,
    UnknownSchemaError,
    default_registry,
    parse_and_validate,
    validate,
)

__all__ = [
    "SchemaIssue",
    "SchemaRegistry",
    "UnknownSchemaError",
    "XmlInputError",
    "default_registry",
    "parse_and_validate",
    "parse_xml",
    "validate",
]
