"""Handlers of the API's receivables routes: payments (bank entries) with where their money went, the
unmatched-payments queue, and manual allocation of an unmatched payment (billing admins; audited). Thin, like
the rest of the API; the allocation is `gateway.payments.service.allocate_manually`, as for the CLI's
`gateway payments allocate`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from aiohttp import web
from sqlalchemy.orm import Session

from gateway.access.guard import principal_of, requires
from gateway.access.roles import Permission
from gateway.api import params
from gateway.api.routes import ID_PARAM, _found, _in_session, _json, _page
from gateway.api.spec import (
    DAY,
    DECIMAL,
    INT,
    MESSAGE_ID,
    OBJ,
    OINT,
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
from gateway.payments.manual import allocate_as
from gateway.payments.service import AllocationRefused, PaymentInputError, UnknownUnmatched
from gateway.queries import payments
from gateway.queries.pagination import BadQuery

ROW_ID: Final = {"type": "integer", "minimum": 1, "maximum": 2**53}


# -- payments ---------------------------------------------------------------------------------------------------
def payment_filter(request: web.Request) -> payments.PaymentFilter:
    invoice = params.optional(request, "invoice")
    return payments.PaymentFilter(
        invoice_id=int(invoice) if invoice is not None else None,
        reference=params.text(request, "reference", max_length=40),
        status=params.text(request, "status", max_length=20),
        account=params.text(request, "account", max_length=40),
        entity=params.text(request, "entity", max_length=50),
        since=params.day(request, "from"),
        until=params.day(request, "to"),
    )


@requires(Permission.READ)
async def list_payments(request: web.Request) -> web.Response:
    f = payment_filter(request)
    limit, cursor = params.limit(request), params.text(request, "cursor", max_length=400)
    return _page(await _in_session(request, lambda s: payments.list_payments(s, f, limit=limit, cursor=cursor)))


@requires(Permission.READ)
async def get_payment(request: web.Request) -> web.Response:
    payment_id = params.integer_id(request)
    return _json(_found(await _in_session(request, lambda s: payments.payment(s, payment_id)), "payment"))


# -- the unmatched queue ----------------------------------------------------------------------------------------
@requires(Permission.READ)
async def list_unmatched(request: web.Request) -> web.Response:
    limit, cursor = params.limit(request), params.text(request, "cursor", max_length=400)
    status = params.text(request, "status", max_length=20)
    return _page(await _in_session(request, lambda s: payments.list_unmatched(s, limit=limit, cursor=cursor,
                                                                               status=status)))


@requires(Permission.READ)
async def get_unmatched(request: web.Request) -> web.Response:
    unmatched_id = params.integer_id(request)
    return _json(_found(await _in_session(request, lambda s: payments.unmatched(s, unmatched_id)),
                        "unmatched payment"))


@requires(Permission.ALLOCATE_PAYMENT)
async def allocate_unmatched(request: web.Request) -> web.Response:
    """Put (part of) an unmatched payment on an invoice: by `invoice_id`, or by `invoice_number` (with `entity`
    when the number is not unique); without `amount`, as much as both allow."""
    unmatched_id = params.integer_id(request)
    body = request[BODY]
    invoice_id, number = body.get("invoice_id"), body.get("invoice_number")
    if (invoice_id is None) == (number is None):
        raise BadQuery("give exactly one of invoice_id and invoice_number")
    amount = Decimal(body["amount"]) if body.get("amount") is not None else None
    principal = principal_of(request)

    def run(session: Session) -> dict[str, Any]:
        try:
            return allocate_as(session, principal, unmatched_id, invoice_id=invoice_id, invoice_number=number,
                               entity=body.get("entity"), amount=amount)
        except UnknownUnmatched as error:
            raise web.HTTPNotFound(text=str(error)) from None
        except AllocationRefused as error:
            raise web.HTTPConflict(text=str(error)) from None
        except PaymentInputError as error:
            raise BadQuery(str(error)) from None

    return _json(await _in_session(request, run, write=True))


# -- schemas ----------------------------------------------------------------------------------------------------
ALLOCATION: Final = obj({
    "id": INT, "kind": {"type": "string", "enum": ["invoice", "credit"]}, "entity": STR, "amount": DECIMAL,
    "paid_on": DAY, "source": {"type": "string", "enum": ["bank", "manual", "reversal"]},
}, {"invoice_id": OINT, "invoice_number": OSTR, "customer_id": OINT, "payment_id": OINT, "unmatched_id": OINT,
    "adjustment_id": OINT, "created_at": OTIME, "message": nullable(MESSAGE_ID)})
BANK_FILE: Final = obj({"id": INT, "message": MESSAGE_ID, "name": STR, "format": STR, "sha256": STR, "size": INT,
                        "imported_at": OTIME, "entries": INT, "allocated": INT, "unmatched": INT,
                        "already_imported": INT})
PAYMENT: Final = obj({
    "id": INT, "file_id": INT, "message": MESSAGE_ID, "entry_ref": STR, "format": STR, "account": STR,
    "credit_debit": STR, "reversal": {"type": "boolean"}, "amount": DECIMAL, "currency": STR, "booking_date": DAY,
    "status": {"type": "string", "enum": list(payments.PAYMENT_STATUSES)},
}, {"entity": OSTR, "value_date": nullable(DAY), "payer": OSTR, "reference": OSTR, "reversal_of": OINT,
    "reversed_by": OINT, "created_at": OTIME})
UNMATCHED: Final = obj({
    "id": INT, "payment_id": INT, "amount": DECIMAL, "allocated_amount": DECIMAL, "remaining": DECIMAL,
    "account": STR, "reason": STR, "status": {"type": "string", "enum": list(payments.UNMATCHED_STATUSES)},
    "booking_date": DAY,
}, {"reference": OSTR, "payer": OSTR, "created_at": OTIME, "resolved_at": OTIME})
PAYMENT_DETAIL: Final = {
    **PAYMENT, "required": sorted([*PAYMENT["required"], "allocations", "unmatched", "bank_file"]),
    "properties": {**PAYMENT["properties"], "allocations": {"type": "array", "items": ALLOCATION},
                   "unmatched": {"type": "array", "items": UNMATCHED}, "bank_file": nullable(BANK_FILE),
                   "decision": OBJ},
}
UNMATCHED_DETAIL: Final = {
    **UNMATCHED, "required": sorted([*UNMATCHED["required"], "allocations", "payment", "bank_file"]),
    "properties": {**UNMATCHED["properties"], "allocations": {"type": "array", "items": ALLOCATION},
                   "payment": nullable(PAYMENT), "bank_file": nullable(BANK_FILE),
                   "message": nullable(MESSAGE_ID)},
}
ALLOCATION_REQUEST: Final = {
    "type": "object", "required": [], "additionalProperties": False,
    "properties": {
        "invoice_id": {**ROW_ID, "description": "the invoice (give this or invoice_number)"},
        "invoice_number": {"type": "string", "minLength": 1, "maxLength": 20,
                           "description": "the invoice's number, as the customer reads it"},
        "entity": {"type": "string", "minLength": 1, "maxLength": 50,
                   "description": "the invoicing company, when the number alone is not unique (default: the "
                                  "company whose account received the payment)"},
        "amount": {**DECIMAL, "description": "euros, whole cents (default: as much as both the payment's rest "
                                             "and the invoice's open amount allow)"},
    },
}
ALLOCATION_RESULT: Final = obj({"id": INT, "unmatched_id": INT, "invoice_id": INT, "invoice_number": STR,
                                "amount": DECIMAL, "remaining": DECIMAL, "payment_status": STR})

PAYMENT_ROUTES: Final = [
    ApiRoute("GET", "/payments", list_payments, Permission.READ,
             "payments (entries of imported bank files), newest first, with where their money went", "payments",
             page_of(PAYMENT), [
                 *PAGING, query("invoice", ROW_ID, "put (in part) on this invoice"),
                 query("reference", {"type": "string", "maxLength": 40}, "payment reference, national or RF"),
                 query("status", {"type": "string", "enum": list(payments.PAYMENT_STATUSES)}, "entry status"),
                 query("account", {"type": "string", "maxLength": 40}, "receiving account (IBAN)"),
                 query("entity", {"type": "string", "maxLength": 50}, "legal entity whose account received it"),
                 query("from", DAY, "booked on or after this day"), query("to", DAY, "booked on or before this day")],
             errors=(400,)),
    ApiRoute("GET", "/payments/{id}", get_payment, Permission.READ,
             "a payment: its allocations, unmatched rest and the bank file it came in", "payments", PAYMENT_DETAIL,
             [ID_PARAM]),
    ApiRoute("GET", "/unmatched-payments", list_unmatched, Permission.READ,
             "the unmatched-payments queue, newest first", "payments", page_of(UNMATCHED), [
                 *PAGING, query("status", {"type": "string", "enum": list(payments.UNMATCHED_STATUSES)},
                                "open, allocated or reversed")], errors=(400,)),
    ApiRoute("GET", "/unmatched-payments/{id}", get_unmatched, Permission.READ,
             "an unmatched payment: the payment and bank file it came from, what was allocated from it",
             "payments", UNMATCHED_DETAIL, [ID_PARAM]),
    ApiRoute("POST", "/unmatched-payments/{id}/allocate", allocate_unmatched, Permission.ALLOCATE_PAYMENT,
             "put (part of) an unmatched payment on an invoice (billing-admin; audited); more than the payment has "
             "left or the invoice has open is refused (409)", "payments", ALLOCATION_RESULT, [ID_PARAM],
             errors=(400, 404, 409, 415), body=ALLOCATION_REQUEST),
]
