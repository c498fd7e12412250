"""Raw documents for reading: the bytes as received with numbered lines, or re-indented, errors kept at their
lines in both.

Errors point at line and column of the sender's own bytes. The pretty view re-indents the document, so each
error line is carried over to the line where the same element starts in the re-indented text (the two trees
are walked side by side; they have the same elements in the same order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from gateway.xml.hardened import XmlInputError, parse_xml

_MAX: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    errors: tuple[dict[str, Any], ...]


def _lines(text: str, errors_by_line: dict[int, list[dict[str, Any]]]) -> list[Line]:
    return [Line(i, line, tuple(errors_by_line.get(i, ())))
            for i, line in enumerate(text.splitlines() or [""], start=1)]


def _by_line(errors: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    for error in errors:
        line = error.get("line")
        if isinstance(line, int) and line > 0:
            found.setdefault(line, []).append(error)
    return found


def as_received(data: bytes, errors: list[dict[str, Any]]) -> list[Line]:
    return _lines(data.decode("utf-8", "replace"), _by_line(errors))


def pretty(data: bytes, errors: list[dict[str, Any]]) -> list[Line] | None:
    """The document re-indented with errors moved to their elements' new lines; None if it is not well-formed."""
    try:
        original = parse_xml(data, max_bytes=_MAX)
    except XmlInputError:
        return None
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True, huge_tree=False)
    try:
        stripped = etree.fromstring(etree.tostring(original), parser)
    except etree.XMLSyntaxError:
        return None
    text = etree.tostring(stripped, pretty_print=True, encoding="unicode")
    reparsed = etree.fromstring(text.encode("utf-8"), parser)
    moved: dict[int, int] = {}
    for old, new in zip(original.getroot().iter(), reparsed.iter(), strict=False):
        old_line, new_line = old.sourceline, new.sourceline
        if isinstance(old_line, int) and isinstance(new_line, int):
            moved.setdefault(old_line, new_line)
    old_lines = sorted(moved)
    errors_by_line: dict[int, list[dict[str, Any]]] = {}
    for line, items in _by_line(errors).items():
        # An error on a line where no element starts (e.g. inside text) goes to the element started before it.
        before = [n for n in old_lines if n <= line]
        target = moved[before[-1]] if before else 1
        errors_by_line.setdefault(target, []).extend(items)
    return _lines(text, errors_by_line)
