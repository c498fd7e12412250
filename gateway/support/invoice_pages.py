"""The invoicing pages of the support site: invoice search, the invoice page (lines, VAT summary, electricity tax,
each line's explanation with links to the messages and values behind it), documents, and the customer page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy.orm import Session

from gateway.access.guard import requires
from gateway.access.roles import Permission
from gateway.billing.service import PAYMENT_STATUSES, STATUSES
from gateway.queries import explanation, invoices
from gateway.queries.invoices import InvoiceFilter, parse_month
from gateway.queries.pagination import BadQuery, parse_limit
from gateway.support.common import from_store, render

_FIELDS = ("number", "reference", "customer", "gsrn", "entity", "period", "status", "payment_status", "kind")


def _row_id(request: web.Request) -> int | None:
    value = request.match_info["id"]
    return int(value) if value.isdigit() and len(value) <= 18 else None


@requires(Permission.PAGES)
async def invoice_search(request: web.Request) -> web.Response:
    q = request.query
    form = {k: q.get(k, "").strip() for k in _FIELDS}
    try:
        f = InvoiceFilter(
            number=form["number"] or None, reference=form["reference"] or None,
            customer_name=form["customer"] or None, accounting_point=form["gsrn"] or None,
            entity=form["entity"] or None, period=parse_month(form["period"] or None),
            status=form["status"] or None, payment_status=form["payment_status"] or None, kind=form["kind"] or None)
        limit = parse_limit(q.get("limit"))
        page = await from_store(request, lambda s: invoices.list_invoices(s, f, limit=limit, cursor=q.get("cursor")))
        error = None
    except BadQuery as problem:
        page, error = None, str(problem)
    return render(request, "invoices.html", form=form, page=page, error=error, statuses=STATUSES,
                  payment_statuses=PAYMENT_STATUSES)


def metering_link(message: str | None, transaction_id: str | None, positions: dict[str, Any]) -> str | None:
    """The message page with the OBS positions a line used marked (pretty view: one value a line)."""
    if not message:
        return None
    target = f"/support/messages/{message}?view=pretty"
    if transaction_id:
        target += f"&tx={quote(transaction_id, safe='')}&seq={positions['first_seq']}-{positions['last_seq']}"
    return target + "#hl"


@requires(Permission.PAGES)
async def invoice_page(request: web.Request) -> web.Response:
    invoice_id = _row_id(request)
    if invoice_id is None:
        return render(request, "not_found.html", status=404)

    def load(session: Session) -> dict[str, Any] | None:
        found = invoices.invoice(session, invoice_id)
        if found is None:
            return None
        return {"inv": found, "ex": explanation.explain_invoice(session, invoice_id)}

    loaded = await from_store(request, load)
    if loaded is None:
        return render(request, "not_found.html", status=404)
    ex = loaded["ex"]
    for line in ex["lines"]:
        for m in line.get("metering") or []:
            m["link"] = metering_link(m["message"], m["transaction_id"], m["positions"])
    return render(request, "invoice.html", inv=loaded["inv"], ex=ex,
                  explained={line["id"]: line for line in ex["lines"]})


async def _document(request: web.Request, fmt: str) -> web.StreamResponse:
    invoice_id = _row_id(request)
    found = None if invoice_id is None else await from_store(
        request, lambda s: invoices.invoice_document(s, invoice_id, fmt))
    if found is None:
        return render(request, "not_found.html", status=404)
    return web.Response(body=found.data, content_type=found.media_type,
                        charset="utf-8" if fmt == "finvoice" else None, headers={
                            "Content-Disposition": f'attachment; filename="{found.filename}"',
                            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


@requires(Permission.PAGES)
async def invoice_finvoice(request: web.Request) -> web.StreamResponse:
    return await _document(request, "finvoice")


@requires(Permission.PAGES)
async def invoice_pdf(request: web.Request) -> web.StreamResponse:
    return await _document(request, "pdf")


@requires(Permission.PAGES)
async def customer_page(request: web.Request) -> web.Response:
    customer_id = _row_id(request)
    found = None if customer_id is None else await from_store(
        request, lambda s: invoices.billing_customer(s, customer_id, invoices=100))
    if found is None:
        return render(request, "not_found.html", status=404)
    return render(request, "customer.html", c=found)


def add_invoice_pages(app: web.Application) -> None:
    app.router.add_get("/invoices", invoice_search)
    app.router.add_get("/invoices/{id}", invoice_page)
    app.router.add_get("/invoices/{id}/finvoice", invoice_finvoice)
    app.router.add_get("/invoices/{id}/pdf", invoice_pdf)
    app.router.add_get("/customers/{id}", customer_page)
