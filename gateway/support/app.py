"""The support pages (`/support/…`): server-rendered Jinja2 over `gateway.queries`, Finnish and English."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.access.audit import LOGIN, REPLAY, REVEAL_IDENTITY_CODE, record_access
from gateway.access.guard import REVEALED, guard_of, principal_of, public, requires
from gateway.access.masking import mask_identity_codes_bytes
from gateway.access.roles import Permission
from gateway.access.sessions import COOKIE, MAX_AGE_SECONDS, new_session
from gateway.access.users import Principal, authenticate_token, token_digest
from gateway.queries import entities, invoices, lineage, outbox_view
from gateway.queries.consumption import daily
from gateway.queries.detail import message_detail, raw_document
from gateway.queries.messages import MessageFilter, MessageRef, search_messages
from gateway.queries.pagination import BadQuery, parse_limit
from gateway.queries.rawxml import as_received, parse_seq_range, positions, pretty
from gateway.queries.whatif import what_if
from gateway.rating.core.calendar import first_of_next_month
from gateway.rating.errors import RatingInputError
from gateway.support import charts
from gateway.support.common import SUPPORT_ENGINE, check_csrf, from_store, lang_of, render
from gateway.support.invoice_pages import add_invoice_pages
from gateway.support.labels import translate
from gateway.support.payment_pages import add_payment_pages


# -- login ----------------------------------------------------------------------------------------------------
def _safe_next(target: str | None) -> str:
    if target and target.startswith("/support/") and not target.startswith("//"):
        return target
    return "/support/messages"


@public
async def login_form(request: web.Request) -> web.Response:
    return render(request, "login.html", next=_safe_next(request.query.get("next")), failed=False)


@public
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    token = str(form.get("token", "")).strip()
    target = _safe_next(str(form.get("next", "")))
    engine = request.app[SUPPORT_ENGINE]

    def check() -> Principal | None:
        with Session(engine) as session, session.begin():
            principal = authenticate_token(session, token)
            if principal is not None and principal.may(Permission.PAGES):
                record_access(session, principal, LOGIN, "user", str(principal.user_id))
                return principal
            return None

    principal = await asyncio.to_thread(check)
    if principal is None:
        return render(request, "login.html", status=401, next=target, failed=True)
    signer = await asyncio.to_thread(guard_of(request).signer)
    cookie = signer.dumps(new_session(principal.user_id, token_digest(token)))
    response = web.HTTPSeeOther(target)
    response.set_cookie(COOKIE, cookie, max_age=MAX_AGE_SECONDS, path="/support", httponly=True,
                        samesite="Strict", secure=request.secure)
    raise response


@requires(Permission.PAGES)
async def logout(request: web.Request) -> web.StreamResponse:
    check_csrf(request, await request.post())
    response = web.HTTPSeeOther("/support/login")
    response.del_cookie(COOKIE, path="/support")
    raise response


@requires(Permission.PAGES)
async def index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/support/messages")


# -- messages -------------------------------------------------------------------------------------------------
def _day_start(text: str | None, *, after: bool = False) -> datetime | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadQuery(f"{text!r} is not a date (YYYY-MM-DD)") from None
    from gateway.rating.core.calendar import local_midnight_utc

    return local_midnight_utc(day + timedelta(days=1) if after else day)


@requires(Permission.PAGES)
async def messages(request: web.Request) -> web.Response:
    q = request.query
    form = {k: q.get(k, "") for k in ("gsrn", "message_id", "transaction_id", "party", "document_type", "status",
                                      "direction", "from", "to")}
    try:
        f = MessageFilter(
            gsrn=form["gsrn"].strip() or None, message_id=form["message_id"].strip() or None,
            transaction_id=form["transaction_id"].strip() or None, party=form["party"].strip() or None,
            document_type=form["document_type"].strip().upper() or None, status=form["status"].strip() or None,
            direction=form["direction"] or None, since=_day_start(form["from"]),
            until=_day_start(form["to"], after=True))
        limit = parse_limit(q.get("limit"))
        page = await from_store(request, lambda s: search_messages(s, f, limit=limit, cursor=q.get("cursor")))
        error = None
    except BadQuery as problem:
        page, error = None, str(problem)
    return render(request, "messages.html", form=form, page=page, error=error)


@requires(Permission.PAGES)
async def message(request: web.Request) -> web.Response:
    try:
        ref = MessageRef.parse(request.match_info["id"])
    except LookupError:
        return render(request, "not_found.html", status=404)
    view = "pretty" if request.query.get("view") == "pretty" else "received"
    highlight = request.query.get("line")
    transaction_id = (request.query.get("tx") or "").strip()[:100] or None
    seq = parse_seq_range(request.query.get("seq"))

    def load(session: Session) -> dict[str, Any] | None:
        detail = message_detail(session, ref)
        if detail is None:
            return None
        document = raw_document(session, ref)
        root = lineage.root_node(session, "message", ref.id)
        graph = lineage.downstream(session, root) if root is not None else None
        return {"detail": detail, "document": document, "lineage": graph}

    loaded = await from_store(request, load)
    if loaded is None:
        return render(request, "not_found.html", status=404)
    detail, document = loaded["detail"], loaded["document"]
    lines = None
    pretty_failed = False
    if document is not None and document.media_type == "application/xml":
        data = mask_identity_codes_bytes(document.data)
        if view == "pretty":
            lines = pretty(data, detail["errors"])
            pretty_failed = lines is None
        if lines is None:
            lines = as_received(data, detail["errors"])
    elif document is not None:
        lines = as_received(mask_identity_codes_bytes(document.data), [])
    marked = None
    if lines is not None and transaction_id is not None and seq is not None:
        # The positions an invoice line used, found in the text as shown (as received or re-indented).
        marked = positions("\n".join(line.text for line in lines), transaction_id, *seq)
    graph = loaded["lineage"]
    grouped: dict[str, list[Any]] = {}
    if graph is not None:
        for node in graph.nodes.values():
            if node.id != graph.root:
                grouped.setdefault(node.type, []).append(node)
    return render(request, "message.html", m=detail, lines=lines, view=view, pretty_failed=pretty_failed,
                  highlight=int(highlight) if highlight and highlight.isdigit() else None, lineage=grouped,
                  truncated=bool(graph and graph.truncated), has_raw=document is not None, marked=marked,
                  marked_lines=marked.lines if marked is not None else frozenset(),
                  marked_values=marked.value_lines if marked is not None else frozenset())


@requires(Permission.PAGES)
async def message_raw(request: web.Request) -> web.Response:
    try:
        ref = MessageRef.parse(request.match_info["id"])
    except LookupError:
        return render(request, "not_found.html", status=404)
    reason = (request.query.get("reason") or "").strip()
    reveal = request.query.get("reveal") == "identity_code"
    principal = principal_of(request)
    if reveal and (not principal.may(Permission.REVEAL_IDENTITY_CODE) or not reason):
        raise web.HTTPForbidden(text="revealing identity codes needs the billing-admin role and a reason")

    def read(session: Session) -> Any:
        document = raw_document(session, ref)
        if document is not None and reveal:
            record_access(session, principal, REVEAL_IDENTITY_CODE, "message", ref.id, reason[:500])
        return document

    document = await from_store(request, read, write=reveal)
    if document is None:
        return render(request, "not_found.html", status=404)
    data = document.data
    if reveal:
        request[REVEALED] = True
    else:
        data = mask_identity_codes_bytes(data)
    return web.Response(body=data, content_type=document.media_type, charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{document.filename}"', "X-Content-Type-Options": "nosniff"})


# -- accounting point -----------------------------------------------------------------------------------------
@requires(Permission.PAGES)
async def point_search(request: web.Request) -> web.StreamResponse:
    gsrn = (request.query.get("gsrn") or "").strip()
    if len(gsrn) == 18 and gsrn.isdigit():
        raise web.HTTPSeeOther(f"/support/accounting-points/{gsrn}")
    raise web.HTTPSeeOther("/support/messages?" + urlencode({"gsrn": gsrn}))


def _month(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text + "-01")
    except ValueError:
        return None


@requires(Permission.PAGES)
async def point(request: web.Request) -> web.Response:
    gsrn = request.match_info["gsrn"]
    if len(gsrn) != 18 or not gsrn.isdigit():
        return render(request, "not_found.html", status=404)
    lang = lang_of(request)
    wanted_month = _month(request.query.get("month"))
    first_day, last_day = request.query.get("from"), request.query.get("to")

    def load(session: Session) -> dict[str, Any] | None:
        info = entities.accounting_point(session, gsrn)
        if info is None:
            return None
        result: dict[str, Any] = {"point": info}
        try:
            start = date.fromisoformat(first_day) if first_day else None
            end = date.fromisoformat(last_day) + timedelta(days=1) if last_day else None
            result["whatif"] = what_if(session, gsrn, start, end)
        except (RatingInputError, ValueError) as error:
            result["whatif"], result["whatif_error"] = None, str(error)
        last = info["metering"]["last"]
        month = wanted_month or (_local_month(last) if last else None)
        if month is not None:
            result["month"] = month
            result["days"] = daily(session, gsrn, month, first_of_next_month(month))
        result["series"] = entities.list_series(session, limit=62, accounting_point=gsrn, since=_month_start(month),
                                                until=_month_start(first_of_next_month(month)) if month else None)
        result["ratings"] = entities.list_ratings(session, limit=20, accounting_point=gsrn)
        result["invoices"] = invoices.list_invoices(session, invoices.InvoiceFilter(accounting_point=gsrn), limit=20)
        return result

    loaded = await from_store(request, load)
    if loaded is None:
        return render(request, "not_found.html", status=404)
    chart = None
    if loaded.get("days"):
        chart = charts.consumption_and_price(loaded["days"], translate("consumption_kwh", lang),
                                             translate("spot_price", lang))
    whatif_chart: Markup | None = None
    wi = loaded.get("whatif")
    if wi is not None:
        available = [p for p in wi.products if p.unavailable is None]
        months = [m.month.strftime("%m/%y") for m in available[0].months] if available else []
        whatif_chart = charts.monthly_costs(
            months, [(p.product_code, [m.total_incl_vat for m in p.months], p.current) for p in available],
            translate("monthly_costs", lang))
    month = loaded.get("month")
    return render(request, "point.html", p=loaded["point"], whatif=wi, whatif_error=loaded.get("whatif_error"),
                  chart=chart, whatif_chart=whatif_chart, month=month, series=loaded["series"],
                  ratings=loaded["ratings"], invoices=loaded["invoices"],
                  previous_month=(month - timedelta(days=1)).strftime("%Y-%m") if month else None,
                  next_month=first_of_next_month(month).strftime("%Y-%m") if month else None)


def _local_month(iso: str) -> date:
    from gateway.rating.service import local_date

    day = local_date(datetime.fromisoformat(iso) - timedelta(seconds=1))
    return date(day.year, day.month, 1)


def _month_start(month: date | None) -> datetime | None:
    from gateway.rating.core.calendar import local_midnight_utc

    return None if month is None else local_midnight_utc(month)


# -- rating results -------------------------------------------------------------------------------------------
@requires(Permission.PAGES)
async def rating(request: web.Request) -> web.Response:
    rating_id = request.match_info["id"]
    if not rating_id.isdigit() or len(rating_id) > 18:
        return render(request, "not_found.html", status=404)

    def load(session: Session) -> dict[str, Any] | None:
        found = entities.rating(session, int(rating_id))
        if found is None:
            return None
        root = lineage.root_node(session, "rating_result", rating_id)
        assert root is not None
        billed = lineage.downstream(session, root)
        return {"r": found, "lineage": lineage.upstream(session, root),
                "billed": sorted(billed.of_type("invoice_line"), key=lambda n: (n.data["invoice_id"],
                                                                               n.data["position"]))}

    loaded = await from_store(request, load)
    if loaded is None:
        return render(request, "not_found.html", status=404)
    graph = loaded["lineage"]
    return render(request, "rating.html", r=loaded["r"], messages=graph.of_type("message"),
                  series=sorted(graph.of_type("metering_series"), key=lambda n: n.data["period_start"]),
                  other=[n for n in graph.nodes.values() if n.type in ("master_data", "agreement", "assignment")],
                  billed=loaded["billed"])


# -- dead letters ---------------------------------------------------------------------------------------------
@requires(Permission.PAGES)
async def dead_letters(request: web.Request) -> web.Response:
    cursor = request.query.get("cursor")
    try:
        page = await from_store(request, lambda s: outbox_view.list_dead_letters(s, limit=50, cursor=cursor))
    except BadQuery:
        page = await from_store(request, lambda s: outbox_view.list_dead_letters(s, limit=50))
    return render(request, "dead_letters.html", page=page, done=request.query.get("replayed"))


@requires(Permission.REPLAY)
async def replay(request: web.Request) -> web.StreamResponse:
    check_csrf(request, await request.post())
    outbox_id = request.match_info["id"]
    if not outbox_id.isdigit() or len(outbox_id) > 18:
        return render(request, "not_found.html", status=404)
    principal = principal_of(request)

    def run(session: Session) -> bool:
        done = outbox_view.replay_dead_letter(session, int(outbox_id))
        if done:
            record_access(session, principal, REPLAY, "outbox_delivery", outbox_id)
        return done

    done = await from_store(request, run, write=True)
    raise web.HTTPSeeOther(f"/support/dead-letters?replayed={outbox_id if done else 'none'}")


def support_app(engine: Engine) -> web.Application:
    app = web.Application()
    app[SUPPORT_ENGINE] = engine
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/", index)
    app.router.add_get("/messages", messages)
    app.router.add_get("/messages/{id}", message)
    app.router.add_get("/messages/{id}/raw", message_raw)
    app.router.add_get("/accounting-points", point_search)
    app.router.add_get("/accounting-points/{gsrn}", point)
    app.router.add_get("/rating-results/{id}", rating)
    app.router.add_get("/dead-letters", dead_letters)
    app.router.add_post("/dead-letters/{id}/replay", replay)
    add_invoice_pages(app)
    add_payment_pages(app)
    return app
