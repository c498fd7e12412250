"""Raw documents for reading: the bytes as received with numbered lines, or re-indented, errors kept at their
lines in both; and the metering positions an invoice line used, found in either text.

Errors point at line and column of the sender's own bytes. The pretty view re-indents the document, so each
error line is carried over to the line where the same element starts in the re-indented text (the two trees
are walked side by side; they have the same elements in the same order).

`positions` finds the `OBS` elements of one E66 transaction (by its `UniqueIdentification`) whose `SEQ` lies in
a range, in whichever text is shown: the lines they span (to mark) and their values (SEQ, the interval's start,
QTY, quality), so a support person sees the very values an invoice line summed.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from lxml import etree

from gateway.domain.periods import RESOLUTION_MINUTES
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


# -- metering positions -------------------------------------------------------------------------------------------
POSITIONS_LISTED: Final = 200  # values listed next to the marked lines (the lines are marked whatever the count)
_SEQ_RANGE: Final = re.compile(r"^([0-9]{1,6})(?:-([0-9]{1,6}))?$")


@dataclass(frozen=True)
class Positions:
    transaction_id: str
    first: int
    last: int
    lines: frozenset[int] = frozenset()
    value_lines: frozenset[int] = frozenset()  # where the QTY (or QM) of a marked position is
    values: tuple[dict[str, Any], ...] = ()
    total: Decimal = Decimal(0)  # Σ QTY of the marked positions
    count: int = 0
    found: bool = False  # the transaction is in the document
    first_line: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_seq_range(text: str | None) -> tuple[int, int] | None:
    """`5` or `1-96` (1-based SEQ, inclusive); None when it is not one."""
    match = _SEQ_RANGE.match(text or "")
    if match is None:
        return None
    first = int(match.group(1))
    last = int(match.group(2) or first)
    return (first, last) if 1 <= first <= last else None


def _local(element: Any) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _child(element: Any, name: str) -> Any:
    return next((c for c in element if _local(c) == name), None)


def _text(element: Any, *path: str) -> str | None:
    for name in path:
        element = _child(element, name) if element is not None else None
    return None if element is None or element.text is None else element.text.strip()


def positions(text: str, transaction_id: str, first: int, last: int) -> Positions:
    """The OBS elements of `transaction_id` with first ≤ SEQ ≤ last in `text` (the document as it is shown)."""
    empty = Positions(transaction_id, first, last)
    try:
        root = parse_xml(text.encode("utf-8"), max_bytes=_MAX).getroot()
    except XmlInputError:
        return empty
    transaction = next((t for t in root.iter() if _local(t) == "Transaction"
                        and _text(t, "UniqueIdentification") == transaction_id), None)
    if transaction is None:
        return empty
    start_text = _text(transaction, "ObservationPeriodTimeSeriesPeriod", "Start")
    resolution = _text(transaction, "ObservationPeriodTimeSeriesPeriod", "ResolutionDuration")
    try:
        start = datetime.fromisoformat((start_text or "").replace("Z", "+00:00"))
    except ValueError:
        start = None
    minutes = RESOLUTION_MINUTES.get(resolution or "")
    order = list(root.iter())
    index = {id(e): i for i, e in enumerate(order)}
    lines: set[int] = set()
    value_lines: set[int] = set()
    values: list[dict[str, Any]] = []
    count = 0
    total = Decimal(0)
    first_line: int | None = None
    for obs in (o for o in transaction if _local(o) == "OBS"):
        seq_text = _text(obs, "SEQ")
        if seq_text is None or not seq_text.isdigit() or not first <= int(seq_text) <= last:
            continue
        seq = int(seq_text)
        count += 1
        subtree = list(obs.iter())
        descendants: list[int] = [d.sourceline for d in subtree if isinstance(d.sourceline, int)]  # type: ignore[misc]
        begin, end = min(descendants), max(descendants)
        following = index[id(obs)] + len(subtree)  # the first element after the OBS, in document order
        after = order[following] if following < len(order) else None
        next_line = after.sourceline if after is not None else None
        if isinstance(next_line, int) and int(next_line) - 1 > end:
            end = min(int(next_line) - 1, end + 2)  # the closing tags of EOBS and OBS
        lines.update(range(begin, end + 1))
        first_line = begin if first_line is None else min(first_line, begin)
        eobs = _child(obs, "EOBS")
        value = next((c for c in (eobs if eobs is not None else ()) if _local(c) in ("QTY", "QM")), None)
        if value is not None and isinstance(value.sourceline, int):
            value_lines.add(value.sourceline)
        quantity = _text(eobs, "QTY")
        with contextlib.suppress(InvalidOperation):
            total += Decimal(quantity) if quantity else Decimal(0)
        if len(values) < POSITIONS_LISTED:
            at = start + timedelta(minutes=minutes * (seq - 1)) if start is not None and minutes else None
            values.append({"seq": seq, "start": at.isoformat() if at else None, "line": begin,
                           "quantity": quantity, "quality": _text(eobs, "QQ"), "missing": _text(eobs, "QM") == "1"})
    return Positions(transaction_id, first, last, frozenset(lines), frozenset(value_lines), tuple(values), total,
                     count, True, first_line, {"resolution": resolution, "start": start_text})
