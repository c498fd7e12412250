"""Handlers of the API's invoicing routes: invoices and credit notes with their documents, explanation and
lineage; billing runs (starting one, or a dry run, is for billing admins and audited); the customers invoices
go to. Thin, like the rest of the API: each a call into `gateway.queries` in a worker thread."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any, Final

from aiohttp import web
from sqlalchemy.orm import Session

from gateway.access.audit import BILLING_RUN, BILLING_RUN_FINISHED, record_access
from gateway.access.guard import principal_of, requires
from gateway.access.roles import Permission
from gateway.api import params
from gateway.api.routes import (
    API_ENGINE,
    ID_PARAM,
    LINEAGE,
    POINT_FILTER,
    Unprocessable,
    _found,
    _in_session,
    _json,
    _page,
)
from gateway.api.spec import (
    DAY,
    DECIMAL,
    GSRN,
    INT,
    MESSAGE_ID,
    OBJ,
    ODECIMAL,
    OINT,
    OOBJ,
    OSTR,
    OTIME,
    PAGING,
    STR,
    ApiRoute,
    nullable,
    obj,
    page_of,
    query,
)
from gateway.api.validation import BODY
from gateway.billing.service import PAYMENT_STATUSES, STATUSES
from gateway.queries import explanation, invoices, lineage
from gateway.queries.invoices import InvoiceFilter, parse_month
from gateway.queries.pagination import BadQuery

MONTH: Final = {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"}
BOOL: Final = {"type": "boolean"}
ARRAY: Final = {"type": "array"}


# -- invoices ---------------------------------------------------------------------------------------------------
def invoice_filter(request: web.Request) -> InvoiceFilter:
    customer, run = params.optional(request, "customer"), params.optional(request, "run")
    return InvoiceFilter(
        customer_id=int(customer) if customer is not None else None,
        entity=params.text(request, "entity", max_length=50),
        period=parse_month(params.text(request, "period", max_length=7)),
        status=params.text(request, "status", max_length=20),
        payment_status=params.text(request, "payment_status", max_length=20),
        number=params.text(request, "number", max_length=20),
        reference=params.text(request, "reference", max_length=40),
        kind=params.text(request, "kind", max_length=20),
        accounting_point=params.text(request, "accounting_point", max_length=18),
        run_id=int(run) if run is not None else None,
    )


@requires(Permission.READ)
async def list_invoices(request: web.Request) -> web.Response:
    f = invoice_filter(request)
    limit, cursor = params.limit(request), params.text(request, "cursor", max_length=400)
    return _page(await _in_session(request, lambda s: invoices.list_invoices(s, f, limit=limit, cursor=cursor)))


@requires(Permission.READ)
async def get_invoice(request: web.Request) -> web.Response:
    invoice_id = params.integer_id(request)
    return _json(_found(await _in_session(request, lambda s: invoices.invoice(s, invoice_id)), "invoice"))


async def _document(request: web.Request, fmt: str) -> web.Response:
    invoice_id = params.integer_id(request)
    found = await _in_session(request, lambda s: invoices.invoice_document(s, invoice_id, fmt))
    document = _found(found, "invoice")
    return web.Response(body=document.data, content_type=document.media_type,
                        charset="utf-8" if fmt == "finvoice" else None, headers={
                            "Content-Disposition": f'attachment; filename="{document.filename}"',
                            "X-Content-Type-Options": "nosniff"})


@requires(Permission.READ)
async def get_invoice_finvoice(request: web.Request) -> web.Response:
    return await _document(request, "finvoice")


@requires(Permission.READ)
async def get_invoice_pdf(request: web.Request) -> web.Response:
    return await _document(request, "pdf")


@requires(Permission.READ)
async def get_invoice_explanation(request: web.Request) -> web.Response:
    invoice_id = params.integer_id(request)
    return _json(_found(await _in_session(request, lambda s: explanation.explain_invoice(s, invoice_id)),
                        "invoice"))


def _walk(node_type: str, key: str, direction: str) -> Any:
    def walk(session: Session) -> dict[str, Any] | None:
        root = lineage.root_node(session, node_type, key)
        if root is None:
            return None
        graph = lineage.downstream(session, root) if direction == "downstream" else lineage.upstream(session, root)
        return graph.to_json()

    return walk


@requires(Permission.READ)
async def get_invoice_lineage(request: web.Request) -> web.Response:
    invoice_id = params.integer_id(request)
    direction = params.text(request, "direction", max_length=10) or "upstream"
    return _json(_found(await _in_session(request, _walk("invoice", str(invoice_id), direction)), "invoice"))


@requires(Permission.READ)
async def get_invoice_line_lineage(request: web.Request) -> web.Response:
    line_id = params.integer_id(request)
    direction = params.text(request, "direction", max_length=10) or "upstream"
    return _json(_found(await _in_session(request, _walk("invoice_line", str(line_id), direction)),
                        "invoice line"))


# -- billing runs -----------------------------------------------------------------------------------------------
@requires(Permission.READ)
async def list_billing_runs(request: web.Request) -> web.Response:
    limit, cursor = params.limit(request), params.text(request, "cursor", max_length=400)
    period = parse_month(params.text(request, "period", max_length=7))
    entity, status = params.text(request, "entity", max_length=50), params.text(request, "status", max_length=20)
    return _page(await _in_session(request, lambda s: invoices.list_billing_runs(
        s, limit=limit, cursor=cursor, period=period, entity=entity, status=status)))


@requires(Permission.READ)
async def get_billing_run(request: web.Request) -> web.Response:
    run_id = params.integer_id(request)
    return _json(_found(await _in_session(request, lambda s: invoices.billing_run(s, run_id)), "billing run"))


@requires(Permission.BILLING_RUN)
async def start_billing_run(request: web.Request) -> web.Response:
    """Bill a month now (or rehearse it with `dry_run`): the answer is the run's report. Who asked, and what came
    of it, go to the access audit log (before the run starts, and when it ends)."""
    from gateway.billing.errors import BillingInputError
    from gateway.billing.runs import bill, today_in_helsinki
    from gateway.rating.errors import RatingInputError

    body = request[BODY]
    month = parse_month(body["period"])
    assert month is not None
    entity = body.get("entity")
    dry_run = bool(body.get("dry_run", False))
    invoice_date = date.fromisoformat(body["invoice_date"]) if body.get("invoice_date") else today_in_helsinki()
    principal = principal_of(request)
    asked = {"period": f"{month:%Y-%m}", "entity": entity, "dry_run": dry_run, "invoice_date": invoice_date.isoformat()}
    subject = f"{month:%Y-%m}" + (f"/{entity}" if entity else "")
    await _in_session(request, lambda s: record_access(s, principal, BILLING_RUN, "billing_run", subject,
                                                       detail=asked), write=True)
    engine = request.app[API_ENGINE]
    outcome: dict[str, Any] = {"status": "failed"}
    try:
        report = await asyncio.to_thread(bill, engine, month, entity=entity, dry_run=dry_run,
                                         invoice_date=invoice_date)
        data = report.to_json()
        outcome = {"status": "completed", "run_id": report.run_id, "invoices": len(report.invoiced),
                   "held": len(report.held)}
    except BillingInputError as error:
        outcome["error"] = str(error)
        raise BadQuery(str(error)) from None
    except RatingInputError as error:
        outcome["error"] = str(error)
        raise Unprocessable(str(error)) from None
    finally:
        await _in_session(request, lambda s: record_access(
            s, principal, BILLING_RUN_FINISHED, "billing_run", str(outcome.get("run_id") or subject),
            detail=asked | outcome), write=True)
    return _json({"id": report.run_id, "status": "completed", **data})


# -- customers as billed ----------------------------------------------------------------------------------------
@requires(Permission.READ)
async def list_billing_customers(request: web.Request) -> web.Response:
    limit, cursor, name = params.limit(request), params.text(request, "cursor", max_length=400), \
        params.text(request, "name")
    return _page(await _in_session(request, lambda s: invoices.list_billing_customers(
        s, limit=limit, cursor=cursor, name=name)))


@requires(Permission.READ)
async def get_billing_customer(request: web.Request) -> web.Response:
    customer_id = params.integer_id(request)
    return _json(_found(await _in_session(request, lambda s: invoices.billing_customer(s, customer_id)),
                        "billing customer"))


# -- schemas ----------------------------------------------------------------------------------------------------
INVOICE: Final = obj({
    "id": INT, "entity": STR, "kind": {"type": "string", "enum": ["invoice", "credit_note"]},
    "document_type": {"type": "string", "enum": ["INV01", "INV02"]}, "number": OSTR, "customer_id": INT,
    "customer_name": OSTR, "customer_type": STR, "channel": STR, "period_start": DAY, "period_end": DAY,
    "invoice_date": DAY, "due_date": DAY, "reference": STR, "reference_rf": STR, "currency": STR,
    "total_excl_vat": DECIMAL, "total_vat": DECIMAL, "total": DECIMAL, "paid_amount": DECIMAL, "status": STR,
    "payment_status": STR, "original_invoice_id": OINT, "final": BOOL, "run_id": OINT,
    "issued_at": OTIME, "released_at": OTIME, "sent_at": OTIME, "message": MESSAGE_ID,
})
INVOICE_LINK: Final = obj({"id": INT, "kind": STR, "document_type": STR, "entity": STR, "number": OSTR,
                           "total": DECIMAL, "invoice_date": DAY, "status": STR, "payment_status": STR})
INVOICE_LINE: Final = obj({
    "id": INT, "invoice_id": INT, "position": INT, "description": STR, "amount": DECIMAL, "vat_rate": DECIMAL,
    "flags": {"type": "array", "items": STR},
}, {
    "accounting_point": OSTR, "product_code": OSTR, "component": OSTR, "period_start": nullable(DAY),
    "period_end": nullable(DAY), "quantity": ODECIMAL, "unit": OSTR, "unit_price": ODECIMAL, "vat_kind": OSTR,
    "tax_class": OSTR, "rating_result_id": OINT, "rating_revision": OINT, "priced_line_index": OINT,
    "adjustment_id": OINT, "credits_line_id": OINT, "credited_by_line_ids": {"type": "array", "items": INT},
})
VAT_ROW: Final = obj({"rate": DECIMAL, "base": DECIMAL, "vat": DECIMAL})
INVOICE_DETAIL: Final = {
    **INVOICE,
    "required": sorted([*INVOICE["required"], "lines", "vat", "credit_notes", "corrected_by", "original_invoice",
                        "seller", "buyer", "documents"]),
    "properties": {
        **INVOICE["properties"], "lines": {"type": "array", "items": INVOICE_LINE},
        "vat": {"type": "array", "items": VAT_ROW}, "totals": OBJ,
        "electricity_tax": nullable(obj({"basis_kwh": DECIMAL, "amount": DECIMAL})),
        "consumption": ARRAY, "contracts": ARRAY, "reason": OSTR, "barcode": OSTR, "payment_reference": OSTR,
        "original_invoice": nullable(INVOICE_LINK), "credit_notes": {"type": "array", "items": INVOICE_LINK},
        "corrected_by": {"type": "array", "items": INVOICE_LINK}, "seller": OBJ, "buyer": OBJ,
        "billed_periods": ARRAY, "finvoice_sha256": STR, "documents": obj({"finvoice": STR, "pdf": STR}),
        "payments": {"type": "array", "items": obj({"id": INT, "amount": DECIMAL, "paid_on": DAY, "source": STR},
                                                    {"payment_id": OINT, "unmatched_id": OINT,
                                                     "message": nullable(MESSAGE_ID)})},
    },
}
FORMULA: Final = obj({"key": STR, "text": STR, "text_fi": STR, "calculation": STR})
EXPLAINED_LINE: Final = {
    **INVOICE_LINE,
    "required": sorted([*INVOICE_LINE["required"], "source", "message_ids", "formula"]),
    "properties": {
        **INVOICE_LINE["properties"],
        "source": {"type": "string", "enum": ["rating", "credit", "adjustment", "other"]},
        "message_ids": {"type": "array", "items": MESSAGE_ID}, "formula": nullable(FORMULA),
        "rating_result": OOBJ, "quality": OOBJ, "tariff": ARRAY, "vat_rows": ARRAY, "spot_prices": OOBJ,
        "metering": {"type": "array", "items": obj({
            "series_id": INT, "message": nullable(MESSAGE_ID), "positions": obj({
                "first_seq": INT, "last_seq": INT, "count": INT, "quantity": DECIMAL, "estimated": INT,
                "missing": INT})})},
        "credits": OOBJ, "adjustment": OOBJ, "product": OOBJ,
    },
}
EXPLANATION: Final = obj({
    "id": INT, "invoice_id": INT, "kind": STR, "number": OSTR, "entity": STR, "total": DECIMAL,
    "message": MESSAGE_ID, "lines": {"type": "array", "items": EXPLAINED_LINE},
    "vat": {"type": "array", "items": VAT_ROW}, "message_ids": {"type": "array", "items": MESSAGE_ID},
    "correction": nullable(obj({"reason": OSTR, "periods": ARRAY, "message_ids": {
        "type": "array", "items": MESSAGE_ID}})),
}, {"electricity_tax": OOBJ, "period_start": DAY, "period_end": DAY})
BILLING_RUN_ITEM: Final = obj({
    "id": INT, "period": STR, "entity": OSTR, "dry_run": BOOL, "status": STR, "started_at": OTIME,
    "finished_at": OTIME, "invoices": INT, "held": INT, "summary": OBJ,
})
BILLING_RUN_DETAIL: Final = {
    **BILLING_RUN_ITEM, "required": sorted([*BILLING_RUN_ITEM["required"], "report", "issued_invoices"]),
    "properties": {**BILLING_RUN_ITEM["properties"], "report": OBJ, "issued_invoices": INT, "invoices_url": STR},
}
RUN_REPORT: Final = obj({
    "id": OINT, "status": STR, "period": STR, "entity": OSTR, "dry_run": BOOL, "run_id": OINT, "summary": OBJ,
    "invoiced": ARRAY, "held": ARRAY, "rated_now": INT, "already_billed": INT,
})
RUN_REQUEST: Final = {
    "type": "object", "required": ["period"], "additionalProperties": False,
    "properties": {
        "period": {**MONTH, "description": "the month to bill, YYYY-MM"},
        "entity": {"type": "string", "minLength": 1, "maxLength": 50,
                   "description": "one legal entity (default: every entity that can invoice)"},
        "dry_run": {"type": "boolean", "description": "rehearse: nothing numbered, stored or released"},
        "invoice_date": {"type": "string", "format": "date", "description": "default: today in Helsinki"},
    },
}
BILLING_CUSTOMER: Final = obj({
    "id": INT, "source": STR, "name": STR, "customer_type": STR, "business_id": OSTR, "address": OBJ,
    "channel": STR,
}, {"language": OSTR, "e_invoice_address": OSTR, "e_invoice_operator": OSTR, "email": OSTR,
    "created_at": OTIME, "updated_at": OTIME})
BILLING_CUSTOMER_DETAIL: Final = {
    **BILLING_CUSTOMER,
    "required": sorted([*BILLING_CUSTOMER["required"], "invoices", "accounting_points", "datahub_customers"]),
    "properties": {**BILLING_CUSTOMER["properties"], "invoices": {"type": "array", "items": INVOICE},
                   "invoices_next_cursor": OSTR, "accounting_points": {"type": "array", "items": GSRN},
                   "datahub_customers": {"type": "array", "items": INT}},
}

ROW_ID: Final = {"type": "integer", "minimum": 1, "maximum": 2**53}
DIRECTION = query("direction", {"type": "string", "enum": ["upstream", "downstream"]},
                  "upstream (default: what it rests on) or downstream (what was made of it)")
_LINEAGE_DOC = ("upstream: the lines, rating results, metering versions, prices, master data, agreements and "
                "messages behind it, and the payments put on it (allocations, bank entries, bank files); "
                "downstream: the released document and what credits it")

INVOICING_ROUTES: Final = [
    ApiRoute("GET", "/invoices", list_invoices, Permission.READ,
             "invoices and credit notes (a credit note is kind credit_note), newest first", "invoices",
             page_of(INVOICE), [
                 *PAGING, query("customer", ROW_ID, "billing customer id"),
                 query("entity", {"type": "string", "maxLength": 50}, "legal entity (retail, distribution, …)"),
                 query("period", MONTH, "billing period YYYY-MM (the month the invoiced period starts in)"),
                 query("status", {"type": "string", "enum": list(STATUSES)}, "document status"),
                 query("payment_status", {"type": "string", "enum": list(PAYMENT_STATUSES)}, "payment status"),
                 query("number", {"type": "string", "maxLength": 20}, "invoice number"),
                 query("reference", {"type": "string", "maxLength": 40},
                       "payment reference, national or RF (spaces allowed; check digits must hold)"),
                 query("kind", {"type": "string", "enum": ["invoice", "credit_note"]}, "only this kind"),
                 POINT_FILTER, query("run", ROW_ID, "issued by this billing run")], errors=(400,)),
    ApiRoute("GET", "/invoices/{id}", get_invoice, Permission.READ,
             "an invoice or credit note: lines with their sources, VAT summary, electricity tax, linked documents",
             "invoices", INVOICE_DETAIL, [ID_PARAM]),
    ApiRoute("GET", "/invoices/{id}/finvoice", get_invoice_finvoice, Permission.READ,
             "the Finvoice 3.0 XML exactly as released", "invoices", STR, [ID_PARAM],
             media_types=("application/xml",)),
    ApiRoute("GET", "/invoices/{id}/pdf", get_invoice_pdf, Permission.READ,
             "the PDF, rendered from the stored document", "invoices", {"type": "string", "format": "binary"},
             [ID_PARAM], media_types=("application/pdf",)),
    ApiRoute("GET", "/invoices/{id}/explanation", get_invoice_explanation, Permission.READ,
             "per line: quantity and quality, metering versions with their OBS positions, price, tax and VAT rows "
             "with validity, formula, message_ids; for a correction what changed and what caused it", "invoices",
             EXPLANATION, [ID_PARAM]),
    ApiRoute("GET", "/invoices/{id}/lineage", get_invoice_lineage, Permission.READ,
             f"an invoice's lineage; {_LINEAGE_DOC}", "invoices", LINEAGE, [ID_PARAM, DIRECTION]),
    ApiRoute("GET", "/invoice-lines/{id}/lineage", get_invoice_line_lineage, Permission.READ,
             "one invoice line's lineage: its rating result and the metering versions, prices and messages behind "
             "it (downstream: the invoice and the line that credits it)", "invoices", LINEAGE,
             [ID_PARAM, DIRECTION]),
    ApiRoute("GET", "/billing-runs", list_billing_runs, Permission.READ, "billing runs, newest first",
             "billing runs", page_of(BILLING_RUN_ITEM), [
                 *PAGING, query("period", MONTH, "YYYY-MM"),
                 query("entity", {"type": "string", "maxLength": 50}, "legal entity"),
                 query("status", {"type": "string", "enum": ["running", "completed", "failed"]}, "run status")],
             errors=(400,)),
    ApiRoute("GET", "/billing-runs/{id}", get_billing_run, Permission.READ,
             "a billing run with its report: invoices issued, periods held and why", "billing runs",
             BILLING_RUN_DETAIL, [ID_PARAM]),
    ApiRoute("POST", "/billing-runs", start_billing_run, Permission.BILLING_RUN,
             "bill a month now, or rehearse it (dry_run); answers the run's report when it ends (audited)",
             "billing runs", RUN_REPORT, [], errors=(400, 415, 422), body=RUN_REQUEST),
    ApiRoute("GET", "/billing-customers", list_billing_customers, Permission.READ,
             "the customers invoices go to (never a personal identity code)", "customers",
             page_of(BILLING_CUSTOMER), [*PAGING, query("name", {"type": "string", "maxLength": 100},
                                                         "name contains")], errors=(400,)),
    ApiRoute("GET", "/billing-customers/{id}", get_billing_customer, Permission.READ,
             "a billed customer with its newest invoices, accounting points and Datahub customer rows",
             "customers", BILLING_CUSTOMER_DETAIL, [ID_PARAM]),
]
