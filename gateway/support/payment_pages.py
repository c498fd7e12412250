"""The receivables pages of the support site: the unmatched-payments queue, one unmatched payment with the
payment and bank file it came from, and its manual allocation form (billing admins; CSRF-checked, audited, the
same allocation as `gateway payments allocate` and the API)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from gateway.access.guard import principal_of, requires
from gateway.access.roles import Permission
from gateway.payments.manual import allocate_as
from gateway.payments.service import PaymentInputError
from gateway.queries import payments
from gateway.queries.pagination import BadQuery
from gateway.support.common import check_csrf, from_store, render


def _row_id(request: web.Request) -> int | None:
    value = request.match_info["id"]
    return int(value) if value.isdigit() and len(value) <= 18 else None


@requires(Permission.PAGES)
async def unmatched_list(request: web.Request) -> web.Response:
    asked = request.query.get("status", "open")
    status = asked if asked in payments.UNMATCHED_STATUSES else None  # "any": every status
    cursor = request.query.get("cursor")
    try:
        page = await from_store(request, lambda s: payments.list_unmatched(s, limit=50, cursor=cursor, status=status))
    except BadQuery:
        page = await from_store(request, lambda s: payments.list_unmatched(s, limit=50, status=status))
    return render(request, "unmatched_payments.html", page=page, chosen=status or "",
                  statuses=payments.UNMATCHED_STATUSES)


async def _detail(request: web.Request, unmatched_id: int, *, code: int = 200, error: str | None = None,
                  form: dict[str, str] | None = None) -> web.Response:
    found = await from_store(request, lambda s: payments.unmatched(s, unmatched_id))
    if found is None:
        return render(request, "not_found.html", status=404)
    principal = principal_of(request)
    return render(request, "unmatched_payment.html", status=code, u=found, error=error, form=form or {},
                  allocated=request.query.get("allocated"), may_allocate=principal.may(Permission.ALLOCATE_PAYMENT))


@requires(Permission.PAGES)
async def unmatched_page(request: web.Request) -> web.Response:
    unmatched_id = _row_id(request)
    if unmatched_id is None:
        return render(request, "not_found.html", status=404)
    return await _detail(request, unmatched_id)


@requires(Permission.ALLOCATE_PAYMENT)
async def allocate_form(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    check_csrf(request, form)
    unmatched_id = _row_id(request)
    if unmatched_id is None:
        return render(request, "not_found.html", status=404)
    fields = {k: str(form.get(k, "")).strip() for k in ("invoice_number", "entity", "amount")}
    amount: Decimal | None = None
    if fields["amount"]:
        try:  # as a person types it: 12,50 or 12.50
            amount = Decimal(fields["amount"].replace(",", ".").replace("\u00a0", "").replace(" ", ""))
        except InvalidOperation:
            amount = Decimal("NaN")
        if not amount.is_finite():
            return await _detail(request, unmatched_id, code=400, form=fields,
                                 error=f"{fields['amount'][:30]!r}: euros with whole cents, e.g. 12,50")
    if not fields["invoice_number"]:
        return await _detail(request, unmatched_id, code=400, error="invoice number is required", form=fields)
    principal = principal_of(request)

    def run(session: Session) -> dict[str, Any] | str:
        try:
            return allocate_as(session, principal, unmatched_id, invoice_number=fields["invoice_number"],
                               entity=fields["entity"] or None, amount=amount)
        except PaymentInputError as problem:  # refused before anything was written
            return str(problem)

    done = await from_store(request, run, write=True)
    if isinstance(done, str):
        return await _detail(request, unmatched_id, code=409, error=done, form=fields)
    raise web.HTTPSeeOther(f"/support/unmatched-payments/{unmatched_id}?allocated={done['id']}")


def add_payment_pages(app: web.Application) -> None:
    app.router.add_get("/unmatched-payments", unmatched_list)
    app.router.add_get("/unmatched-payments/{id}", unmatched_page)
    app.router.add_post("/unmatched-payments/{id}/allocate", allocate_form)
