"""ENTSO-E Transparency day-ahead prices (Publication_MarketDocument, type A44) → ``PriceSeries``.

Handles namespaces 7:0 and 7:3, resolutions PT15M and PT60M, and curveType A03 where a position is
omitted when its price repeats the previous one (A01 must list every position). One ``PriceSeries`` per
``Period``; prices stay exactly as published (negative prices included).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from lxml import etree

from gateway.domain.periods import RESOLUTION_MINUTES
from gateway.rating.core.series import PriceSeries

NAMESPACES = {
    "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:0": "iec62325-451-3-publication_v7_0.xsd",
    "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3": "iec62325-451-3-publication_v7_3.xsd",
}
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "entsoe"
DAY_AHEAD_DOCUMENT_TYPE = "A44"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)


class PriceDocumentError(ValueError):
    """The document is not a usable day-ahead price document."""


@cache
def schema_for(namespace: str) -> etree.XMLSchema:
    """The compiled IEC 62325-451-3 schema of a publication document namespace."""
    try:
        name = NAMESPACES[namespace]
    except KeyError:
        raise PriceDocumentError(f"unsupported namespace {namespace!r}") from None
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / name)))


def validate(document: bytes) -> list[str]:
    """Every schema error as ``line:column: message`` (empty when valid)."""
    root = _root(document)
    schema = schema_for(etree.QName(root).namespace or "")
    if schema.validate(root.getroottree()):
        return []
    return [f"{e.line}:{e.column}: {e.message}" for e in schema.error_log]  # type: ignore[attr-defined]


def _root(document: bytes) -> etree._Element:
    try:
        return etree.fromstring(document, _PARSER)
    except etree.XMLSyntaxError as error:
        raise PriceDocumentError(f"not well-formed XML: {error}") from None


def _instant(text: str | None, what: str) -> datetime:
    if not text:
        raise PriceDocumentError(f"missing {what}")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PriceDocumentError(f"{what} {text!r} is not an ISO 8601 instant") from None
    if value.tzinfo is None:
        raise PriceDocumentError(f"{what} {text!r} has no offset")
    return value.astimezone(UTC)


def parse_day_ahead_prices(document: bytes) -> list[PriceSeries]:
    root = _root(document)
    namespace = etree.QName(root).namespace or ""
    if etree.QName(root).localname != "Publication_MarketDocument" or namespace not in NAMESPACES:
        raise PriceDocumentError(f"not a Publication_MarketDocument: {{{namespace}}}{etree.QName(root).localname}")
    ns = {"p": namespace}
    doc_type = root.findtext("p:type", namespaces=ns)
    if doc_type != DAY_AHEAD_DOCUMENT_TYPE:
        raise PriceDocumentError(f"document type {doc_type!r} is not day-ahead prices ({DAY_AHEAD_DOCUMENT_TYPE})")
    document_id = root.findtext("p:mRID", namespaces=ns)
    revision_text = root.findtext("p:revisionNumber", namespaces=ns)
    created_text = root.findtext("p:createdDateTime", namespaces=ns)
    created = _instant(created_text, "createdDateTime") if created_text else None
    result = []
    for ts in root.iterfind("p:TimeSeries", namespaces=ns):
        zone = ts.findtext("p:in_Domain.mRID", namespaces=ns)
        if not zone:
            raise PriceDocumentError("TimeSeries without in_Domain.mRID")
        currency = ts.findtext("p:currency_Unit.name", namespaces=ns)
        unit = ts.findtext("p:price_Measure_Unit.name", namespaces=ns)
        if currency != "EUR" or unit != "MWH":
            raise PriceDocumentError(f"prices in {currency}/{unit}; only EUR/MWH is supported")
        curve = ts.findtext("p:curveType", namespaces=ns) or "A01"
        if curve not in ("A01", "A03"):
            raise PriceDocumentError(f"curveType {curve} is not supported")
        for period in ts.iterfind("p:Period", namespaces=ns):
            result.append(
                _period(
                    period,
                    ns,
                    zone,
                    curve,
                    document_id,
                    int(revision_text) if revision_text else None,
                    created,
                )
            )
    if not result:
        raise PriceDocumentError("the document has no price periods")
    return result


def _period(
    period: etree._Element,
    ns: dict[str, str],
    zone: str,
    curve: str,
    document_id: str | None,
    revision: int | None,
    created: datetime | None,
) -> PriceSeries:
    start = _instant(period.findtext("p:timeInterval/p:start", namespaces=ns), "Period start")
    end = _instant(period.findtext("p:timeInterval/p:end", namespaces=ns), "Period end")
    resolution_text = period.findtext("p:resolution", namespaces=ns) or ""
    if resolution_text not in RESOLUTION_MINUTES:
        raise PriceDocumentError(f"resolution {resolution_text!r} is not supported")
    minutes = RESOLUTION_MINUTES[resolution_text]
    count, rest = divmod(end - start, timedelta(minutes=minutes))
    if rest or count <= 0:
        raise PriceDocumentError(f"period {start}…{end} is not a whole number of {resolution_text}")
    by_position: dict[int, Decimal] = {}
    for point in period.iterfind("p:Point", namespaces=ns):
        try:
            position = int(point.findtext("p:position", namespaces=ns) or "")
            price = Decimal(point.findtext("p:price.amount", namespaces=ns) or "")
        except (ValueError, InvalidOperation):
            raise PriceDocumentError(f"unreadable Point in period from {start.isoformat()}") from None
        if not 1 <= position <= count:
            raise PriceDocumentError(f"position {position} outside 1…{count}")
        if position in by_position:
            raise PriceDocumentError(f"position {position} appears twice")
        by_position[position] = price
    if 1 not in by_position:
        raise PriceDocumentError(f"period from {start.isoformat()} has no position 1")
    prices = []
    for position in range(1, count + 1):
        if position in by_position:
            prices.append(by_position[position])
        elif curve == "A03":
            prices.append(prices[-1])  # A03: an omitted position repeats the previous price
        else:
            raise PriceDocumentError(f"position {position} missing from an A01 curve")
    try:
        return PriceSeries(zone, start, minutes, tuple(prices), document_id, revision, created)
    except ValueError as error:
        raise PriceDocumentError(str(error)) from None
