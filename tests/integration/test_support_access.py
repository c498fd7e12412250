"""Access control over real HTTP: every route × every role (and no credential), deny by default, session cookies,
and personal identity codes that a support user never receives in full."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.access.users import revoke_user
from gateway.app import create_app
from gateway.config import Settings
from gateway.store.db import make_engine
from gateway.store.payments_tables import ProviderWebhookRow
from gateway.store.support_tables import AccessAudit, AppSecret
from outbox.schema import outbox_delivery
from tests.support.databases import BACKENDS, fresh_database_url
from tests.support.support_data import POINT, ROLES, Scenario, populate

FULL_CODES = ("131052-308T", "131052-308U")  # the sample consumer's code, and the mistyped one of a refused F01
NO_ONE = "none"

# Every route of the service and who may use it. The test fails when a route is added without an entry here,
# so a new route is always looked at; the guard itself denies any route that declares no permission.
PUBLIC, PARTY, DENIED, READ, REPLAY_API, PAGE, PAGE_REDIRECT, REPLAY_PAGE, LOGOUT, LOGIN_POST, BILLING_RUN = (
    "public", "party", "denied", "read", "replay-api", "page", "page-redirect", "replay-page", "logout", "login-post",
    "billing-run")
ALLOCATE_API, ALLOCATE_PAGE = "allocate-api", "allocate-page"
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("POST", "/soap/b2b"): PARTY,
    ("GET", "/soap/b2b"): DENIED,  # without ?wsdl; with it the WSDL is public (checked separately)
    ("POST", "/webhooks/payment-provider"): PARTY,  # the provider signs its batches; a user's token is no signature
    ("GET", "/api/openapi.json"): PUBLIC,
    ("GET", "/api/accounting-points"): READ,
    ("GET", "/api/accounting-points/{gsrn}"): READ,
    ("GET", "/api/accounting-points/{gsrn}/what-if"): READ,
    ("GET", "/api/customers"): READ,
    ("GET", "/api/customers/{id}"): READ,
    ("GET", "/api/agreements"): READ,
    ("GET", "/api/agreements/{id}"): READ,
    ("GET", "/api/metering-series"): READ,
    ("GET", "/api/metering-series/{id}"): READ,
    ("GET", "/api/metering-series/{id}/lineage"): READ,
    ("GET", "/api/prices"): READ,
    ("GET", "/api/products"): READ,
    ("GET", "/api/products/{code}"): READ,
    ("GET", "/api/product-assignments"): READ,
    ("GET", "/api/rating-results"): READ,
    ("GET", "/api/rating-results/{id}"): READ,
    ("GET", "/api/rating-results/{id}/lineage"): READ,
    ("GET", "/api/messages"): READ,
    ("GET", "/api/messages/{id}"): READ,
    ("GET", "/api/messages/{id}/raw"): READ,
    ("GET", "/api/messages/{id}/lineage"): READ,
    ("GET", "/api/outbox/dead-letters"): READ,
    ("GET", "/api/outbox/dead-letters/{id}"): READ,
    ("POST", "/api/outbox/dead-letters/{id}/replay"): REPLAY_API,
    ("GET", "/api/invoices"): READ,
    ("GET", "/api/invoices/{id}"): READ,
    ("GET", "/api/invoices/{id}/finvoice"): READ,
    ("GET", "/api/invoices/{id}/pdf"): READ,
    ("GET", "/api/invoices/{id}/explanation"): READ,
    ("GET", "/api/invoices/{id}/lineage"): READ,
    ("GET", "/api/invoice-lines/{id}/lineage"): READ,
    ("GET", "/api/billing-runs"): READ,
    ("GET", "/api/billing-runs/{id}"): READ,
    ("POST", "/api/billing-runs"): BILLING_RUN,
    ("GET", "/api/billing-customers"): READ,
    ("GET", "/api/billing-customers/{id}"): READ,
    ("GET", "/api/payments"): READ,
    ("GET", "/api/payments/{id}"): READ,
    ("GET", "/api/unmatched-payments"): READ,
    ("GET", "/api/unmatched-payments/{id}"): READ,
    ("POST", "/api/unmatched-payments/{id}/allocate"): ALLOCATE_API,
    ("GET", "/support/login"): PUBLIC,
    ("POST", "/support/login"): LOGIN_POST,
    ("POST", "/support/logout"): LOGOUT,
    ("GET", "/support/"): PAGE_REDIRECT,
    ("GET", "/support/messages"): PAGE,
    ("GET", "/support/messages/{id}"): PAGE,
    ("GET", "/support/messages/{id}/raw"): PAGE,
    ("GET", "/support/accounting-points"): PAGE_REDIRECT,
    ("GET", "/support/accounting-points/{gsrn}"): PAGE,
    ("GET", "/support/rating-results/{id}"): PAGE,
    ("GET", "/support/dead-letters"): PAGE,
    ("GET", "/support/invoices"): PAGE,
    ("GET", "/support/invoices/{id}"): PAGE,
    ("GET", "/support/invoices/{id}/finvoice"): PAGE,
    ("GET", "/support/invoices/{id}/pdf"): PAGE,
    ("GET", "/support/customers/{id}"): PAGE,
    ("POST", "/support/dead-letters/{id}/replay"): REPLAY_PAGE,
    ("GET", "/support/unmatched-payments"): PAGE,
    ("GET", "/support/unmatched-payments/{id}"): PAGE,
    ("POST", "/support/unmatched-payments/{id}/allocate"): ALLOCATE_PAGE,
}

# Status by rule and caller (roles not named answer like "other").
EXPECTED: dict[str, dict[str, int]] = {
    PUBLIC: {NO_ONE: 200, "other": 200},
    PARTY: {NO_ONE: 401, "other": 401},  # users are not market parties
    DENIED: {NO_ONE: 401, "other": 403},
    READ: {NO_ONE: 401, "other": 200},
    REPLAY_API: {NO_ONE: 401, "billing-admin": 200, "other": 403},
    PAGE: {NO_ONE: 303, "api-client": 403, "other": 200},
    PAGE_REDIRECT: {NO_ONE: 303, "api-client": 403, "other": 303},
    REPLAY_PAGE: {NO_ONE: 401, "billing-admin": 303, "other": 403},
    LOGOUT: {NO_ONE: 401, "api-client": 403, "other": 303},
    LOGIN_POST: {NO_ONE: 401, "other": 401},  # an empty form is not a credential
    BILLING_RUN: {NO_ONE: 401, "billing-admin": 200, "other": 403},
    ALLOCATE_API: {NO_ONE: 401, "billing-admin": 200, "other": 403},
    ALLOCATE_PAGE: {NO_ONE: 401, "billing-admin": 303, "other": 403},
}
# What a POST route is sent (a dry run; a cent of the unmatched payment: the matrix checks who may, not what
# billing or allocation does). Page forms are sent as forms.
BODIES: dict[tuple[str, str], dict[str, object]] = {
    ("POST", "/api/billing-runs"): {"period": "2026-03", "dry_run": True},
}


def _allocation(scenario: Scenario) -> dict[str, str]:
    return {"invoice_number": scenario.numbers["retail-corrected"], "amount": "0.01"}


def registered_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, path template) of every route, sub-applications' included (their paths carry the prefix)."""
    found: set[tuple[str, str]] = set()
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:
            found |= registered_routes(info["app"])
            continue
        found |= {(route.method, resource.canonical) for route in resource if route.method != "HEAD"}
    return found


def concrete(path: str, scenario: Scenario) -> str:
    values = {"{gsrn}": POINT, "{code}": "EM-SPOT"}
    if path.startswith(("/api/invoices/", "/support/invoices/")):
        values["{id}"] = str(scenario.invoices["retail-corrected"])
    elif path.startswith("/api/invoice-lines/"):
        values["{id}"] = "1"
    elif path.startswith("/api/billing-runs/"):
        values["{id}"] = str(scenario.run_id)
    elif path.startswith(("/api/billing-customers/", "/support/customers/")):
        values["{id}"] = str(scenario.customer_id)
    elif path.startswith(("/api/payments/",)):
        values["{id}"] = str(scenario.payment_id)
    elif path.startswith(("/api/unmatched-payments/", "/support/unmatched-payments/")):
        values["{id}"] = str(scenario.unmatched_id)
    elif path.startswith(("/api/messages/", "/support/messages/")):
        values["{id}"] = scenario.ids["f01"]
    elif "/customers/" in path or "/agreements/" in path or "/metering-series/" in path:
        values["{id}"] = "1"
    elif "/rating-results/" in path:
        values["{id}"] = str(scenario.rating_id)
    elif "/dead-letters/" in path:
        values["{id}"] = str(scenario.dead_letter_id)
    for key, value in values.items():
        path = path.replace(key, value)
    if path == "/api/prices":
        path += "?from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z"
    return path


@pytest.fixture(scope="module", params=[pytest.param(b, marks=[getattr(pytest.mark, b)]) for b in BACKENDS])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Engine, Scenario, str]]:
    work = tmp_path_factory.mktemp(f"access-{request.param}")
    with fresh_database_url(request.param, work, migrated=True) as url:
        engine = make_engine(url)
        yield engine, populate(engine, work), url
        engine.dispose()


@pytest.fixture
async def client(served: tuple[Engine, Scenario, str], aiohttp_client: Any) -> AsyncIterator[TestClient]:
    engine, _, url = served
    yield await aiohttp_client(create_app(Settings(database_url=url), engine))


def _headers(scenario: Scenario, who: str) -> dict[str, str]:
    return {} if who == NO_ONE else {"Authorization": f"Bearer {scenario.tokens[who]}"}


def _redeaden(engine: Engine, outbox_id: int) -> None:
    with Session(engine) as s, s.begin():
        s.execute(update(outbox_delivery).where(outbox_delivery.c.id == outbox_id).values(state="dead"))


async def test_every_route_answers_each_role_as_the_matrix_says_and_never_with_a_full_identity_code(
        client: TestClient, served: tuple[Engine, Scenario, str]) -> None:
    engine, scenario, _ = served
    app_routes = registered_routes(client.app)  # type: ignore[arg-type]
    assert app_routes == set(ROUTES), f"routes without an entry in the matrix: {app_routes ^ set(ROUTES)}"
    bodies: list[str] = []
    failures = []
    for (method, template), rule in sorted(ROUTES.items()):
        for who in (NO_ONE, *ROLES):
            if rule in (REPLAY_API, REPLAY_PAGE):
                _redeaden(engine, scenario.dead_letter_id)
            headers = _headers(scenario, who)
            if template == "/soap/b2b":  # the endpoint refuses other content types before it authenticates
                headers["Content-Type"] = "application/soap+xml; charset=utf-8"
            body = BODIES.get((method, template))
            form = None
            if rule == ALLOCATE_API:
                body = _allocation(scenario)
            elif rule == ALLOCATE_PAGE:
                form = _allocation(scenario)
            response = await client.request(method, concrete(template, scenario), headers=headers,
                                            json=body if form is None else None, data=form, allow_redirects=False)
            body = await response.read()
            bodies.append(body.decode("utf-8", "replace"))
            expected = EXPECTED[rule].get(who, EXPECTED[rule]["other"])
            if response.status != expected:
                failures.append(f"{method} {template} as {who}: {response.status}, expected {expected}")
            if response.status == 401 and template.startswith("/api/"):
                assert response.content_type == "application/problem+json"
            if response.status == 303 and who == NO_ONE:
                assert response.headers["Location"].startswith("/support/login")
    assert not failures, "\n".join(failures)
    for body in bodies:
        for code in FULL_CODES:
            assert code not in body


async def test_the_wsdl_is_public_and_unknown_paths_deny_strangers(client: TestClient) -> None:
    assert (await client.get("/soap/b2b?wsdl")).status == 200
    assert (await client.get("/api/no-such-thing")).status == 401
    assert (await client.get("/support/no-such-page", allow_redirects=False)).status == 303


async def test_a_route_that_declares_no_permission_is_denied_to_everyone(
        served: tuple[Engine, Scenario, str], aiohttp_client: Any) -> None:
    engine, scenario, url = served
    app = create_app(Settings(database_url=url), engine)

    async def forgotten(request: web.Request) -> web.Response:
        return web.Response(text="secret")

    app.router.add_get("/forgotten", forgotten)
    client = await aiohttp_client(app)
    assert (await client.get("/forgotten")).status == 401
    for role in ROLES:
        response = await client.get("/forgotten", headers=_headers(scenario, role))
        assert response.status == 403 and "secret" not in await response.text()


async def test_revealing_an_identity_code_needs_the_role_and_a_reason_and_is_audited(
        client: TestClient, served: tuple[Engine, Scenario, str]) -> None:
    engine, scenario, _ = served
    path = "/api/customers/1?reveal=identity_code"
    denied = await client.get(path + "&reason=curious", headers=_headers(scenario, "support"))
    assert denied.status == 403 and denied.content_type == "application/problem+json"
    assert (await client.get(path, headers=_headers(scenario, "billing-admin"))).status == 400  # no reason
    with Session(engine) as s:
        before = len(s.execute(select(AccessAudit)).scalars().all())
    shown = await client.get(path + "&reason=customer+asked+on+the+phone", headers=_headers(scenario, "billing-admin"))
    assert shown.status == 200 and (await shown.json())["identification"] == "131052-308T"
    raw = await client.get(f"/api/messages/{scenario.ids['f01']}/raw?reveal=identity_code&reason=collection",
                           headers=_headers(scenario, "api-client"))
    assert raw.status == 200 and b"131052-308T" in await raw.read()
    masked = await client.get(f"/api/messages/{scenario.ids['f01']}/raw", headers=_headers(scenario, "api-client"))
    assert b"131052-****" in await masked.read()
    with Session(engine) as s:
        rows = s.execute(select(AccessAudit).order_by(col(AccessAudit.id))).scalars().all()[before:]
    assert [(r.user_name, r.action, r.subject_type, r.reason) for r in rows] == [
        ("billing-admin-user", "reveal_identity_code", "customer", "customer asked on the phone"),
        ("api-client-user", "reveal_identity_code", "message", "collection"),
    ]


async def test_pages_log_in_with_the_token_and_keep_a_signed_session(
        client: TestClient, served: tuple[Engine, Scenario, str]) -> None:
    engine, scenario, _ = served
    assert (await client.get("/support/messages", allow_redirects=False)).status == 303
    failed = await client.post("/support/login", data={"token": "gw_wrong", "next": "/support/messages"})
    assert failed.status == 401
    refused = await client.post("/support/login", data={"token": scenario.tokens["api-client"]},
                                allow_redirects=False)
    assert refused.status == 401  # an API client has no pages
    login = await client.post("/support/login", data={"token": scenario.tokens["billing-admin"],
                                                      "next": "/support/dead-letters"}, allow_redirects=False)
    assert login.status == 303 and login.headers["Location"] == "/support/dead-letters"
    cookie = login.cookies["gw_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/support"
    page = await client.get("/support/dead-letters")
    assert page.status == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert csrf is not None
    assert (await client.get("/api/messages")).status == 401  # the cookie is for the pages only
    _redeaden(engine, scenario.dead_letter_id)
    forged = await client.post(f"/support/dead-letters/{scenario.dead_letter_id}/replay", data={"csrf": "x"},
                               allow_redirects=False)
    assert forged.status == 403
    replayed = await client.post(f"/support/dead-letters/{scenario.dead_letter_id}/replay",
                                 data={"csrf": csrf.group(1)}, allow_redirects=False)
    assert replayed.status == 303 and "replayed=" + str(scenario.dead_letter_id) in replayed.headers["Location"]
    with Session(engine) as s:
        state = s.execute(select(outbox_delivery.c.state).where(
            outbox_delivery.c.id == scenario.dead_letter_id)).scalar_one()
        assert state == "pending"
        assert s.execute(select(AccessAudit).where(col(AccessAudit.action) == "replay")).scalars().first()
    # A tampered cookie is no session.
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({"gw_session": cookie.value[:-2] + "xx"})
    assert (await client.get("/support/messages", allow_redirects=False)).status == 303


async def test_a_revoked_user_loses_its_token_and_its_sessions(
        served: tuple[Engine, Scenario, str], aiohttp_client: Any, tmp_path: Path) -> None:
    engine, _, url = served
    from gateway.access.users import add_user

    _, token = add_user(engine, f"leaving-{tmp_path.name[-8:]}", "support")
    client = await aiohttp_client(create_app(Settings(database_url=url), engine))
    await client.post("/support/login", data={"token": token}, allow_redirects=False)
    assert (await client.get("/support/messages", allow_redirects=False)).status == 200
    revoke_user(engine, f"leaving-{tmp_path.name[-8:]}")
    assert (await client.get("/support/messages", allow_redirects=False)).status == 303
    assert (await client.get("/api/messages", headers={"Authorization": f"Bearer {token}"})).status == 401


async def test_the_session_key_comes_from_configuration_or_is_made_once_and_shared(
        served: tuple[Engine, Scenario, str], aiohttp_client: Any) -> None:
    engine, scenario, url = served
    first = await aiohttp_client(create_app(Settings(database_url=url), engine))
    second = await aiohttp_client(create_app(Settings(database_url=url), engine))
    login = await first.post("/support/login", data={"token": scenario.tokens["support"]}, allow_redirects=False)
    cookie = login.cookies["gw_session"].value
    shared = await second.get("/support/messages", cookies={"gw_session": cookie}, allow_redirects=False)
    assert shared.status == 200  # another process of the deployment accepts the session
    with Session(engine) as s:
        assert s.execute(select(AppSecret)).scalars().one().name == "session_secret"
    configured = await aiohttp_client(create_app(
        Settings(database_url=url, raw={"support": {"session_secret": "from-configuration"}}), engine))
    other = await configured.get("/support/messages", cookies={"gw_session": cookie}, allow_redirects=False)
    assert other.status == 303  # signed with another key: no session


async def test_a_billing_run_is_for_billing_admins_and_who_started_it_is_audited(
        client: TestClient, served: tuple[Engine, Scenario, str]) -> None:
    engine, scenario, _ = served
    with Session(engine) as s:
        before = len(s.execute(select(AccessAudit)).scalars().all())
    refused = await client.post("/api/billing-runs", json={"period": "2026-02"}, headers=_headers(scenario, "support"))
    assert refused.status == 403
    unknown = await client.post("/api/billing-runs", json={"period": "2026-02", "entity": "no-such-company"},
                                headers=_headers(scenario, "billing-admin"))
    assert unknown.status == 400 and "no-such-company" in (await unknown.json())["detail"]
    done = await client.post("/api/billing-runs", json={"period": "2026-02", "invoice_date": "2026-03-02"},
                             headers=_headers(scenario, "billing-admin"))
    assert done.status == 200
    report = await done.json()
    assert report["status"] == "completed" and report["dry_run"] is False and report["id"] is not None
    shown = await client.get(f"/api/billing-runs/{report['id']}", headers=_headers(scenario, "support"))
    assert (await shown.json())["period"] == "2026-02"
    with Session(engine) as s:
        rows = s.execute(select(AccessAudit).order_by(col(AccessAudit.id))).scalars().all()[before:]
    assert [(r.user_name, r.action, r.subject_id) for r in rows] == [
        ("billing-admin-user", "billing_run", "2026-02/no-such-company"),
        ("billing-admin-user", "billing_run_finished", "2026-02/no-such-company"),
        ("billing-admin-user", "billing_run", "2026-02"),
        ("billing-admin-user", "billing_run_finished", str(report["id"])),
    ]
    assert rows[1].detail is not None and rows[1].detail["status"] == "failed"
    assert rows[3].detail is not None and rows[3].detail["run_id"] == report["id"]


async def test_manual_allocation_is_for_billing_admins_audited_and_refuses_what_does_not_fit(
        client: TestClient, served: tuple[Engine, Scenario, str]) -> None:
    engine, scenario, _ = served
    path = f"/api/unmatched-payments/{scenario.unmatched_id}"
    admin = _headers(scenario, "billing-admin")
    number = scenario.numbers["retail-corrected"]
    refused = await client.post(path + "/allocate", json={"invoice_number": number},
                                headers=_headers(scenario, "support"))
    assert refused.status == 403 and refused.content_type == "application/problem+json"
    before = await (await client.get(path, headers=admin)).json()
    left = Decimal(before["remaining"])
    cases: list[tuple[dict[str, object], int, str]] = [
        ({"invoice_number": number, "amount": f"{left + 1}"}, 409, "left"),
        ({"invoice_number": "999999999"}, 400, "999999999"),
        ({"invoice_id": scenario.invoices["retail-credit-note"]}, 400, "credit note"),
        ({"invoice_id": scenario.invoices["retail-corrected"], "invoice_number": number}, 400, "exactly one"),
        ({"invoice_number": number, "amount": "-1.00"}, 400, "positive"),
        ({"invoice_number": number, "amount": "ten"}, 400, "amount"),
        ({"invoice_number": number, "surprise": True}, 400, "surprise"),
    ]
    for body, status, says in cases:
        answer = await client.post(path + "/allocate", json=body, headers=admin)
        assert answer.status == status, (body, await answer.text())
        assert answer.content_type == "application/problem+json" and says in (await answer.json())["detail"]
    missing = await client.post("/api/unmatched-payments/999999/allocate", json={"invoice_number": number},
                                headers=admin)
    assert missing.status == 404 and missing.content_type == "application/problem+json"
    with Session(engine) as s:
        audited = len(s.execute(select(AccessAudit).where(col(AccessAudit.action) == "allocate_payment")
                                ).scalars().all())
    done = await client.post(path + "/allocate", json={"invoice_number": number, "amount": "1.50"}, headers=admin)
    assert done.status == 200
    result = await done.json()
    assert (result["amount"], result["remaining"], result["invoice_id"]) == (
        "1.50", f"{left - Decimal('1.50'):.2f}", scenario.invoices["retail-corrected"])
    after = await (await client.get(path, headers=_headers(scenario, "api-client"))).json()
    assert after["remaining"] == result["remaining"] and after["allocations"][-1]["amount"] == "1.50"
    invoice = await (await client.get(f"/api/invoices/{result['invoice_id']}", headers=admin)).json()
    assert invoice["payments"][-1] | {"id": 0} == invoice["payments"][-1] | {
        "id": 0, "source": "manual", "amount": "1.50", "unmatched_id": scenario.unmatched_id}
    payments = await (await client.get(f"/api/payments?invoice={result['invoice_id']}", headers=admin)).json()
    assert scenario.payment_id in [p["id"] for p in payments["items"]]
    with Session(engine) as s:
        rows = s.execute(select(AccessAudit).where(col(AccessAudit.action) == "allocate_payment")
                         .order_by(col(AccessAudit.id))).scalars().all()
    assert len(rows) == audited + 1 and rows[-1].user_name == "billing-admin-user"
    assert rows[-1].detail is not None and rows[-1].detail["amount"] == "1.50"


async def test_receivables_entries_of_the_log_open_on_the_pages(
        client: TestClient, served: tuple[Engine, Scenario, str]) -> None:
    engine, scenario, _ = served
    from gateway.payments.webhook import archive_batch

    with Session(engine) as s, s.begin():
        archive_batch(s, b'{"batch": "x"', "rejected", error="not a batch")
        hook = s.execute(select(col(ProviderWebhookRow.id))).scalars().all()[-1]
    await client.post("/support/login", data={"token": scenario.tokens["support"]}, allow_redirects=False)
    log = await client.get("/support/messages?document_type=provider_payment")
    assert log.status == 200 and "PROVIDER_PAYMENT" in await log.text()
    call = await client.get("/support/messages/prov-1")
    text = await call.text()
    assert call.status == 200 and "ropo-retail-0001" in text and "amount" in text and "10.00" in text
    assert f"/support/invoices/{scenario.invoices['retail-corrected']}" in text
    refused = await client.get(f"/support/messages/hook-{hook}")
    assert refused.status == 200 and "not a batch" in await refused.text()
    bank = await client.get(f"/support/messages/{scenario.ids['bank']}")
    page = await bank.text()
    assert bank.status == 200 and 'id="bank-payments"' in page
    assert "SUPPORT-PAID-1" in page and "Ntry" in page  # the camt.054 as received
