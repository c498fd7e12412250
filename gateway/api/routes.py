"""Handlers of the internal JSON API: thin, each a call into `gateway.queries` in a worker thread."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final, TypeVar

from aiohttp import web
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.access.audit import REPLAY, REVEAL_IDENTITY_CODE, record_access
from gateway.access.guard import REVEALED, principal_of, requires
from gateway.access.masking import mask_identity_codes_bytes
from gateway.access.roles import Permission
from gateway.api import params
from gateway.api.spec import (
    DAY,
    DECIMAL,
    GSRN,
    INT,
    MESSAGE_ID,
    OBJ,
    ODECIMAL,
    OINT,
    OMESSAGE_ID,
    OOBJ,
    OSTR,
    OTIME,
    PAGING,
    REVEAL,
    STR,
    TIME,
    ApiRoute,
    nullable,
    obj,
    page_of,
    path_param,
    query,
)
from gateway.queries import entities, invoices, lineage, outbox_view
from gateway.queries.detail import message_detail, raw_document
from gateway.queries.messages import MessageFilter, MessageRef, search_messages
from gateway.queries.pagination import BadQuery, Page
from gateway.queries.whatif import what_if
from gateway.rating.prices import FINLAND

API_ENGINE: Final = web.AppKey("api_engine", Engine)
CUSTOMER_INVOICES: Final = 20  # a customer's newest invoices shown with it (all: /api/invoices?customer=ID)
T = TypeVar("T")


class Forbidden(Exception):
    """The caller's role may not do what the request asks (beyond the route's own permission)."""


class Unprocessable(Exception):
    """The request is well-formed but its answer cannot be computed (e.g. no consumption in the period)."""


async def _in_session(request: web.Request, work: Callable[[Session], T], *, write: bool = False) -> T:
    engine = request.app[API_ENGINE]

    def run() -> T:
        with Session(engine, expire_on_commit=False) as session:
            if not write:
                return work(session)
            with session.begin():
                return work(session)

    return await asyncio.to_thread(run)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, ensure_ascii=False, default=str), status=status,
                        content_type="application/json", charset="utf-8")


def _page(page: Page[Any]) -> web.Response:
    items = [i.to_json() if hasattr(i, "to_json") else i for i in page.items]
    return _json({"items": items, "next_cursor": page.next_cursor})


def _found(value: T | None, what: str) -> T:
    if value is None:
        raise web.HTTPNotFound(text=f"no such {what}")
    return value


def _reveal_reason(request: web.Request) -> str | None:
    """The audited reason when the request asks to reveal identity codes (None: masked, the default)."""
    reveal = params.optional(request, "reveal")
    if reveal is None:
        return None
    if reveal != "identity_code":
        raise BadQuery("reveal must be identity_code")
    if not principal_of(request).may(Permission.REVEAL_IDENTITY_CODE):
        raise Forbidden(f"role {principal_of(request).role.value} may not reveal personal identity codes")
    reason = params.text(request, "reason", max_length=500)
    if not reason or not reason.strip():
        raise BadQuery("reason is required to reveal a personal identity code (it is written to the audit log)")
    return reason.strip()


def _point(request: web.Request) -> str:
    gsrn = request.match_info["gsrn"]
    if len(gsrn) != 18 or not gsrn.isdigit():
        raise web.HTTPNotFound(text="no such accounting point")
    return gsrn


def _message_ref(request: web.Request) -> MessageRef:
    try:
        return MessageRef.parse(request.match_info["id"])
    except LookupError:
        raise web.HTTPNotFound(text="no such message") from None


# -- accounting points ---------------------------------------------------------------------------------------
@requires(Permission.READ)
async def list_points(request: web.Request) -> web.Response:
    limit, cursor, prefix = params.limit(request), params.text(request, "cursor", max_length=400), \
        params.text(request, "gsrn_prefix", max_length=18)
    return _page(await _in_session(request, lambda s: entities.list_accounting_points(
        s, limit=limit, cursor=cursor, prefix=prefix)))


@requires(Permission.READ)
async def get_point(request: web.Request) -> web.Response:
    gsrn = _point(request)
    return _json(_found(await _in_session(request, lambda s: entities.accounting_point(s, gsrn)),
                        "accounting point"))


@requires(Permission.READ)
async def get_what_if(request: web.Request) -> web.Response:
    from gateway.rating.errors import RatingInputError

    gsrn = _point(request)
    first, last = params.day(request, "from"), params.day(request, "to")
    end = None if last is None else last + timedelta(days=1)

    def compute(session: Session) -> dict[str, Any]:
        if entities.accounting_point(session, gsrn) is None:
            raise web.HTTPNotFound(text="no such accounting point")
        try:
            return what_if(session, gsrn, first, end).to_json()
        except RatingInputError as error:
            raise Unprocessable(str(error)) from None

    return _json(await _in_session(request, compute))


# -- customers and agreements ---------------------------------------------------------------------------------
@requires(Permission.READ)
async def list_customers(request: web.Request) -> web.Response:
    limit, cursor, name = params.limit(request), params.text(request, "cursor", max_length=400), \
        params.text(request, "name")
    return _page(await _in_session(request, lambda s: entities.list_customers(s, limit=limit, cursor=cursor,
                                                                               name=name)))


@requires(Permission.READ)
async def get_customer(request: web.Request) -> web.Response:
    customer_id = params.integer_id(request)
    reason = _reveal_reason(request)
    principal = principal_of(request)

    def read(session: Session) -> dict[str, Any]:
        view = _found(entities.customer(session, customer_id), "customer")
        if reason is not None:
            record_access(session, principal, REVEAL_IDENTITY_CODE, "customer", str(customer_id), reason)
        billed = invoices.billing_customer_of(session, view.row.customer_key)
        found = [] if billed is None else invoices.list_invoices(
            session, invoices.InvoiceFilter(customer_id=billed), limit=CUSTOMER_INVOICES).items
        return view.to_json(reveal=reason is not None) | {"billing_customer_id": billed, "invoices": found}

    body = await _in_session(request, read, write=reason is not None)
    if reason is not None:
        request[REVEALED] = True
    return _json(body)


@requires(Permission.READ)
async def list_agreements(request: web.Request) -> web.Response:
    limit, cursor = params.limit(request), params.text(request, "cursor", max_length=400)
    point, status = params.text(request, "accounting_point", max_length=18), params.text(request, "status")
    return _page(await _in_session(request, lambda s: entities.list_agreements(
        s, limit=limit, cursor=cursor, accounting_point=point, status=status)))


@requires(Permission.READ)
async def get_agreement(request: web.Request) -> web.Response:
    row_id = params.integer_id(request)
    return _json(_found(await _in_session(request, lambda s: entities.agreement(s, row_id)), "agreement"))


# -- metering -------------------------------------------------------------------------------------------------
@requires(Permission.READ)
async def list_series(request: web.Request) -> web.Response:
    limit, cursor = params.limit(request), params.text(request, "cursor", max_length=400)
    point = params.text(request, "accounting_point", max_length=18)
    since, until = params.instant(request, "from"), params.instant(request, "to")
    return _page(await _in_session(request, lambda s: entities.list_series(
        s, limit=limit, cursor=cursor, accounting_point=point, since=since, until=until)))


@requires(Permission.READ)
async def get_series(request: web.Request) -> web.Response:
    series_id = params.integer_id(request)
    return _json(_found(await _in_session(request, lambda s: entities.series(s, series_id)), "metering series"))


@requires(Permission.READ)
async def get_series_lineage(request: web.Request) -> web.Response:
    series_id = params.integer_id(request)

    def walk(session: Session) -> dict[str, Any] | None:
        root = lineage.root_node(session, "metering_series", str(series_id))
        return None if root is None else lineage.upstream(session, root).to_json()

    return _json(_found(await _in_session(request, walk), "metering series"))


# -- prices, products, assignments ----------------------------------------------------------------------------
@requires(Permission.READ)
async def list_prices(request: web.Request) -> web.Response:
    zone = params.text(request, "zone", max_length=20) or FINLAND
    since, until = params.instant(request, "from"), params.instant(request, "to")
    if since is None or until is None:
        raise BadQuery("from and to are required (date-times with a time zone)")
    if until <= since:
        raise BadQuery("to must be after from")
    limit, cursor = params.limit(request), params.text(request, "cursor", max_length=400)
    return _page(await _in_session(request, lambda s: entities.list_prices(
        s, zone=zone, since=since, until=until, limit=limit, cursor=cursor)))


@requires(Permission.READ)
async def list_products(request: web.Request) -> web.Response:
    limit, cursor = params.limit(request), params.text(request, "cursor", max_length=400)
    segment = params.text(request, "segment")
    return _page(await _in_session(request, lambda s: entities.list_products(s, limit=limit, cursor=cursor,
                                                                              segment=segment)))


@requires(Permission.READ)
async def get_product(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    return _json(_found(await _in_session(request, lambda s: entities.product(s, code)), "product"))


@requires(Permission.READ)
async def list_assignments(request: web.Request) -> web.Response:
    limit, cursor = params.limit(request), params.text(request, "cursor", max_length=400)
    point = params.text(request, "accounting_point", max_length=18)
    return _page(await _in_session(request, lambda s: entities.list_assignments(
        s, limit=limit, cursor=cursor, accounting_point=point)))


# -- rating results -------------------------------------------------------------------------------------------
@requires(Permission.READ)
async def list_ratings(request: web.Request) -> web.Response:
    limit, cursor = params.limit(request), params.text(request, "cursor", max_length=400)
    point = params.text(request, "accounting_point", max_length=18)
    return _page(await _in_session(request, lambda s: entities.list_ratings(
        s, limit=limit, cursor=cursor, accounting_point=point)))


@requires(Permission.READ)
async def get_rating(request: web.Request) -> web.Response:
    rating_id = params.integer_id(request)
    return _json(_found(await _in_session(request, lambda s: entities.rating(s, rating_id)), "rating result"))


@requires(Permission.READ)
async def get_rating_lineage(request: web.Request) -> web.Response:
    rating_id = params.integer_id(request)

    def walk(session: Session) -> dict[str, Any] | None:
        root = lineage.root_node(session, "rating_result", str(rating_id))
        return None if root is None else lineage.upstream(session, root).to_json()

    return _json(_found(await _in_session(request, walk), "rating result"))


# -- messages -------------------------------------------------------------------------------------------------
def message_filter(request: web.Request) -> MessageFilter:
    return MessageFilter(
        gsrn=params.text(request, "gsrn", max_length=18),
        message_id=params.text(request, "message_id", max_length=100),
        transaction_id=params.text(request, "transaction_id", max_length=100),
        party=params.text(request, "party", max_length=13),
        document_type=params.text(request, "document_type", max_length=20),
        status=params.text(request, "status", max_length=20),
        since=params.instant(request, "from"),
        until=params.instant(request, "to"),
        direction=params.text(request, "direction", max_length=10),
    )


@requires(Permission.READ)
async def list_messages(request: web.Request) -> web.Response:
    f = message_filter(request)
    limit, cursor = params.limit(request), params.text(request, "cursor", max_length=400)
    return _page(await _in_session(request, lambda s: search_messages(s, f, limit=limit, cursor=cursor)))


@requires(Permission.READ)
async def get_message(request: web.Request) -> web.Response:
    ref = _message_ref(request)
    return _json(_found(await _in_session(request, lambda s: message_detail(s, ref)), "message"))


@requires(Permission.READ)
async def get_message_raw(request: web.Request) -> web.Response:
    ref = _message_ref(request)
    reason = _reveal_reason(request)
    principal = principal_of(request)

    def read(session: Session) -> Any:
        document = raw_document(session, ref)
        if document is not None and reason is not None:
            record_access(session, principal, REVEAL_IDENTITY_CODE, "message", ref.id, reason)
        return document

    document = await _in_session(request, read, write=reason is not None)
    if document is None:
        raise web.HTTPNotFound(text="no raw document for this message (price files keep their intervals only)")
    data = document.data
    if reason is None:
        data = mask_identity_codes_bytes(data)
    else:
        request[REVEALED] = True
    return web.Response(body=data, content_type=document.media_type, charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{document.filename}"', "X-Content-Type-Options": "nosniff"})


@requires(Permission.READ)
async def get_message_lineage(request: web.Request) -> web.Response:
    ref = _message_ref(request)

    def walk(session: Session) -> dict[str, Any] | None:
        root = lineage.root_node(session, "message", ref.id)
        return None if root is None else lineage.downstream(session, root).to_json()

    return _json(_found(await _in_session(request, walk), "message"))


# -- outbox ---------------------------------------------------------------------------------------------------
@requires(Permission.READ)
async def list_dead_letters(request: web.Request) -> web.Response:
    limit, cursor = params.limit(request), params.text(request, "cursor", max_length=400)
    topic = params.text(request, "topic")
    return _page(await _in_session(request, lambda s: outbox_view.list_dead_letters(
        s, limit=limit, cursor=cursor, topic=topic)))


@requires(Permission.READ)
async def get_dead_letter(request: web.Request) -> web.Response:
    outbox_id = params.integer_id(request)
    return _json(_found(await _in_session(request, lambda s: outbox_view.dead_letter(s, outbox_id)),
                        "outbox message"))


@requires(Permission.REPLAY)
async def replay_dead_letter(request: web.Request) -> web.Response:
    outbox_id = params.integer_id(request)
    principal = principal_of(request)

    def replay(session: Session) -> dict[str, Any] | None:
        if outbox_view.dead_letter(session, outbox_id) is None:
            return None
        if not outbox_view.replay_dead_letter(session, outbox_id):
            raise web.HTTPConflict(text=f"outbox message {outbox_id} is not a dead letter")
        record_access(session, principal, REPLAY, "outbox_delivery", str(outbox_id))
        return {"id": outbox_id, "replayed": True}

    return _json(_found(await _in_session(request, replay, write=True), "outbox message"))


# -- schemas and the route table ------------------------------------------------------------------------------
MESSAGE_SUMMARY: Final = obj({
    "id": MESSAGE_ID, "direction": {"type": "string", "enum": ["inbound", "outbound", "file"]},
    "message_id": OSTR, "document_type": OSTR, "business_process": OSTR, "party": OSTR, "channel": OSTR,
    "status": STR, "reason_code": OSTR, "error_count": INT, "transactions": OINT, "at": TIME,
    "accounting_point": OSTR, "source": OSTR,
})
ERROR: Final = obj({"code": OSTR, "text": STR, "line": OINT, "column": OINT, "transaction_id": OSTR})
TIMELINE_STEP: Final = obj({"at": TIME, "kind": STR, "detail": OBJ, "recorded": {"type": "boolean"}})
MESSAGE_DETAIL: Final = {**MESSAGE_SUMMARY, "required": sorted([*MESSAGE_SUMMARY["required"], "errors", "timeline"]),
                         "properties": {**MESSAGE_SUMMARY["properties"], "errors": {"type": "array", "items": ERROR},
                                        "timeline": {"type": "array", "items": TIMELINE_STEP},
                                        "transaction_rows": {"type": "array", "items": OBJ},
                                        "acknowledgement": OOBJ, "raw": OOBJ}}
LINEAGE: Final = obj({
    "id": STR, "root": STR, "direction": {"type": "string", "enum": ["downstream", "upstream"]},
    "nodes": {"type": "array", "items": obj({"id": STR, "type": STR, "label": STR, "data": OBJ})},
    "edges": {"type": "array", "items": obj({"source": STR, "target": STR, "relation": STR})},
    "message_ids": {"type": "array", "items": MESSAGE_ID}, "truncated": {"type": "boolean"},
})
MASTER_DATA: Final = obj({"id": INT, "valid_from": TIME, "message": MESSAGE_ID},
                         {"grid_area": OSTR, "metering_method": OSTR, "resolution": OSTR, "main_fuse": OSTR,
                          "tax_category": OSTR, "attributes": OOBJ})
AGREEMENT: Final = obj({"id": INT, "accounting_point": STR, "status": STR, "message": MESSAGE_ID},
                       {"agreement_id": OSTR, "supplier_gln": OSTR, "start": OTIME, "end": OTIME,
                        "product_code": OSTR, "invoicing_channel": OSTR, "ended_by": OMESSAGE_ID})
ASSIGNMENT: Final = obj({"id": INT, "accounting_point": STR, "product_code": STR, "segment": STR, "valid_from": DAY},
                        {"valid_to": nullable(DAY), "main_fuse": OSTR, "source": STR})
POINT: Final = obj({"id": GSRN, "gsrn": GSRN, "master_data": nullable(MASTER_DATA)})
POINT_DETAIL: Final = {**POINT, "required": sorted([*POINT["required"], "agreements", "assignments"]),
                       "properties": {**POINT["properties"], "agreements": {"type": "array", "items": AGREEMENT},
                                      "assignments": {"type": "array", "items": ASSIGNMENT},
                                      "master_data_versions": {"type": "array", "items": MASTER_DATA},
                                      "current_product": OSTR, "metering": OBJ}}
CUSTOMER: Final = obj({"id": INT, "name": STR, "identification_revealed": {"type": "boolean"}, "message": MESSAGE_ID},
                      {"identification_type": OSTR, "identification": OSTR, "accounting_point": OSTR,
                       "attributes": OOBJ})
SERIES: Final = obj({
    "id": INT, "accounting_point": STR, "product": STR, "unit": STR, "resolution": STR, "period_start": TIME,
    "period_end": TIME, "version": INT, "positions": INT, "total": DECIMAL, "estimated": INT, "missing": INT,
    "message": MESSAGE_ID,
})
SERIES_DETAIL: Final = {**SERIES, "required": sorted([*SERIES["required"], "values", "quality", "versions"]),
                        "properties": {**SERIES["properties"], "values": {"type": "array", "items": ODECIMAL},
                                       "quality": {"type": "array", "items": STR},
                                       "versions": {"type": "array", "items": SERIES}}}
PRICE: Final = obj({"id": INT, "zone": STR, "resolution_minutes": INT, "start": TIME, "version": INT,
                    "eur_per_mwh": DECIMAL, "import": MESSAGE_ID})
PRODUCT: Final = obj({"id": STR, "code": STR, "name": STR, "segment": STR, "kind": STR, "legal_entity": STR,
                      "prices": {"type": "array", "items": OBJ}})
RATING: Final = obj({"id": INT, "accounting_point": STR, "period_start": DAY, "period_end": DAY, "revision": INT,
                     "total": DECIMAL, "delta_total": DECIMAL, "created_at": TIME})
RATING_DETAIL: Final = {**RATING, "required": sorted([*RATING["required"], "lines", "delta", "inputs"]),
                        "properties": {**RATING["properties"], "lines": {"type": "array", "items": OBJ},
                                       "delta": {"type": "array", "items": OBJ}, "inputs": OBJ}}
MONTH_COST: Final = obj({"month": STR, "energy": DECIMAL, "basic_fees": DECIMAL, "vat": DECIMAL,
                         "total_incl_vat": DECIMAL})
WHAT_IF: Final = obj({
    "id": STR, "accounting_point": GSRN, "from": DAY, "to": DAY, "consumption_kwh": DECIMAL, "intervals": INT,
    "estimated_intervals": INT, "missing_intervals": INT, "current_product": OSTR,
    "items": {"type": "array", "items": obj({
        "id": STR, "product_code": STR, "name": STR, "kind": STR, "current": {"type": "boolean"},
        "available": {"type": "boolean"}, "unavailable_reason": OSTR, "energy": DECIMAL, "basic_fees": DECIMAL,
        "vat": DECIMAL, "total_excl_vat": DECIMAL, "total_incl_vat": DECIMAL,
        "months": {"type": "array", "items": MONTH_COST}})},
})
DEAD_LETTER: Final = obj({"id": INT, "message_id": STR, "topic": STR, "consumer": STR, "attempts": INT,
                          "created_at": TIME, "payload": OBJ, "subject": OMESSAGE_ID},
                         {"key": OSTR, "last_error": OSTR, "failed_at": OTIME})

POINT_PARAM = path_param("gsrn", GSRN, "accounting point (GSRN)")
ID_PARAM = path_param("id", {"type": "integer", "minimum": 1, "maximum": 2**53}, "row id")
MESSAGE_PARAM = path_param("id", MESSAGE_ID, "message log id: in-N, out-N, price-N, catalogue-N, inv-N, bank-N, "
                                           "prov-N or hook-N")
POINT_FILTER = query("accounting_point", GSRN, "only this accounting point")
FROM_TO = [query("from", TIME, "from this instant (inclusive)"), query("to", TIME, "to this instant (exclusive)")]

ROUTES: Final = [
    ApiRoute("GET", "/accounting-points", list_points, Permission.READ, "accounting points", "accounting points",
             page_of(POINT), [*PAGING, query("gsrn_prefix", {"type": "string", "pattern": "^[0-9]{1,18}$"},
                                             "GSRNs starting with these digits")], errors=(400,)),
    ApiRoute("GET", "/accounting-points/{gsrn}", get_point, Permission.READ,
             "an accounting point: master data versions, agreements, product assignments", "accounting points",
             POINT_DETAIL, [POINT_PARAM]),
    ApiRoute("GET", "/accounting-points/{gsrn}/what-if", get_what_if, Permission.READ,
             "the period re-rated on every retail product (default: the last 12 months of consumption)",
             "accounting points", WHAT_IF,
             [POINT_PARAM, query("from", DAY, "first local day"), query("to", DAY, "last local day (inclusive)")],
             errors=(400, 404, 422)),
    ApiRoute("GET", "/customers", list_customers, Permission.READ, "customers (identity codes masked)", "customers",
             page_of(CUSTOMER), [*PAGING, query("name", {"type": "string", "maxLength": 100}, "name contains")],
             errors=(400,)),
    ApiRoute("GET", "/customers/{id}", get_customer, Permission.READ,
             "a customer (F01) with its newest invoices; reveal=identity_code with a reason shows the full code "
             "(audited)", "customers", {**CUSTOMER, "properties": {
                 **CUSTOMER["properties"], "billing_customer_id": OINT,
                 "invoices": {"type": "array", "items": {"type": "object", "required": ["id"]}}}},
             [ID_PARAM, *REVEAL]),
    ApiRoute("GET", "/agreements", list_agreements, Permission.READ, "sales agreements", "agreements",
             page_of(AGREEMENT), [*PAGING, POINT_FILTER, query("status", {"type": "string", "maxLength": 20},
                                                               "active or ended")], errors=(400,)),
    ApiRoute("GET", "/agreements/{id}", get_agreement, Permission.READ, "a sales agreement row", "agreements",
             AGREEMENT, [ID_PARAM]),
    ApiRoute("GET", "/metering-series", list_series, Permission.READ,
             "metering series versions by period start (every version of each period)", "metering",
             page_of(SERIES), [*PAGING, POINT_FILTER, *FROM_TO], errors=(400,)),
    ApiRoute("GET", "/metering-series/{id}", get_series, Permission.READ,
             "one series version with its values and quality, and every version of its period", "metering",
             SERIES_DETAIL, [ID_PARAM]),
    ApiRoute("GET", "/metering-series/{id}/lineage", get_series_lineage, Permission.READ,
             "the message a series version came from", "metering", LINEAGE, [ID_PARAM]),
    ApiRoute("GET", "/prices", list_prices, Permission.READ, "day-ahead prices, latest version per interval",
             "prices", page_of(PRICE), [
                 *PAGING, query("zone", {"type": "string", "maxLength": 20}, f"bidding zone (default {FINLAND})"),
                 query("from", TIME, "first interval start (inclusive)", required=True),
                 query("to", TIME, "last interval start (exclusive)", required=True)], errors=(400,)),
    ApiRoute("GET", "/products", list_products, Permission.READ, "products of the active catalogue", "products",
             page_of(PRODUCT), [*PAGING, query("segment", {"type": "string", "enum": [
                 "retail", "network", "district_heating"]}, "only this segment")], errors=(400,)),
    ApiRoute("GET", "/products/{code}", get_product, Permission.READ, "a product with its dated prices", "products",
             PRODUCT, [path_param("code", {"type": "string", "maxLength": 100}, "product code")]),
    ApiRoute("GET", "/product-assignments", list_assignments, Permission.READ,
             "network and district heating products of accounting points", "products", page_of(ASSIGNMENT),
             [*PAGING, POINT_FILTER], errors=(400,)),
    ApiRoute("GET", "/rating-results", list_ratings, Permission.READ, "recorded ratings, newest first", "rating",
             page_of(RATING), [*PAGING, POINT_FILTER], errors=(400,)),
    ApiRoute("GET", "/rating-results/{id}", get_rating, Permission.READ,
             "a recorded rating with its lines, delta lines and inputs", "rating", RATING_DETAIL, [ID_PARAM]),
    ApiRoute("GET", "/rating-results/{id}/lineage", get_rating_lineage, Permission.READ,
             "the messages, metering versions, master data, agreements and prices behind a rating", "rating",
             LINEAGE, [ID_PARAM]),
    ApiRoute("GET", "/messages", list_messages, Permission.READ,
             "the message log: inbound and outbound messages, imported files, released invoices, bank files, payment "
             "provider calls and webhook batches, newest first", "messages",
             page_of(MESSAGE_SUMMARY), [
                 *PAGING, query("gsrn", GSRN, "about this accounting point"),
                 query("message_id", {"type": "string", "maxLength": 100}, "the sender's message id"),
                 query("transaction_id", {"type": "string", "maxLength": 100}, "carries this transaction id"),
                 query("party", {"type": "string", "pattern": "^[0-9]{13}$"}, "sender (inbound) or recipient (out)"),
                 query("document_type", {"type": "string", "maxLength": 20}, "E66, E58, F01, F04, F06, ACK, A44, …"),
                 query("status", {"type": "string", "maxLength": 20}, "accepted, rejected, parked, queued, sent, …"),
                 query("direction", {"type": "string", "enum": ["inbound", "outbound", "file"]}, "only this kind"),
                 *FROM_TO], errors=(400,)),
    ApiRoute("GET", "/messages/{id}", get_message, Permission.READ,
             "a message: errors with line and column, transactions, acknowledgement, timeline", "messages",
             MESSAGE_DETAIL, [MESSAGE_PARAM]),
    ApiRoute("GET", "/messages/{id}/raw", get_message_raw, Permission.READ,
             "the exact bytes received or sent (identity codes masked unless revealed with a reason)", "messages",
             STR, [MESSAGE_PARAM, *REVEAL],
             media_types=("application/xml", "application/toml", "application/yaml", "application/json",
                          "text/plain"), media_schemas={"application/json": OBJ}),
    ApiRoute("GET", "/messages/{id}/lineage", get_message_lineage, Permission.READ,
             "what the message became: transactions, accounting points, metering versions, rating results; a bank "
             "file's payments, their allocations and the invoices they settle",
             "messages", LINEAGE, [MESSAGE_PARAM]),
    ApiRoute("GET", "/outbox/dead-letters", list_dead_letters, Permission.READ, "dead letters, newest first",
             "outbox", page_of(DEAD_LETTER), [*PAGING, query("topic", {"type": "string", "maxLength": 100},
                                                             "only this topic")], errors=(400,)),
    ApiRoute("GET", "/outbox/dead-letters/{id}", get_dead_letter, Permission.READ, "a dead letter", "outbox",
             {**DEAD_LETTER, "properties": {**DEAD_LETTER["properties"], "state": STR}}, [ID_PARAM]),
    ApiRoute("POST", "/outbox/dead-letters/{id}/replay", replay_dead_letter, Permission.REPLAY,
             "give a dead letter a fresh set of attempts (audited)", "outbox",
             obj({"id": INT, "replayed": {"type": "boolean"}}), [ID_PARAM], errors=(400, 404, 409)),
]
