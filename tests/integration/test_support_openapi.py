"""The internal API against its own OpenAPI document (schemathesis): generated requests to every operation,
every answer checked against the document — status codes, content types, response schemas, no 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from gateway.api.app import document
from gateway.app import create_app
from gateway.config import Settings
from gateway.store.db import make_engine
from tests.support.databases import fresh_database_url
from tests.support.live_app import serve_app
from tests.support.support_data import Scenario, populate

schema = schemathesis.openapi.from_dict(document())


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Scenario]]:
    work: Path = tmp_path_factory.mktemp("openapi")
    with fresh_database_url("sqlite", work, migrated=True) as url:
        engine = make_engine(url)
        scenario = populate(engine, work)
        with serve_app(create_app(Settings(database_url=url), engine)) as base:
            yield base, scenario
        engine.dispose()


def test_every_route_is_in_the_document() -> None:
    from gateway.api.app import ALL_ROUTES

    paths = document()["paths"]
    for route in ALL_ROUTES:
        assert route.method.lower() in paths["/api" + route.path], route.path
    assert "/api/openapi.json" in paths


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_its_document_says(case: schemathesis.Case, live: tuple[str, Scenario]) -> None:
    base, scenario = live
    # A schema cannot say which opaque cursors this service issued, or that `to` must follow `from`: such
    # requests are schema-valid and rightly refused with 400, so "valid data is accepted" is not checked.
    case.call_and_validate(base_url=base, headers={"Authorization": f"Bearer {scenario.tokens['billing-admin']}"},
                           excluded_checks=[schemathesis.checks.positive_data_acceptance])


def test_the_stored_invoices_and_payments_answer_as_the_document_says(live: tuple[str, Scenario]) -> None:
    """Generated ids rarely meet a stored invoice or payment: each invoicing and receivables route once more with
    the scenario's own ids."""
    base, scenario = live
    headers = {"Authorization": f"Bearer {scenario.tokens['billing-admin']}"}
    invoice_ids = sorted(scenario.invoices.values())
    calls: list[tuple[str, str, dict[str, object], dict[str, object] | None]] = [
        ("/api/invoices", "GET", {}, None),
        ("/api/billing-runs", "GET", {}, None),
        ("/api/billing-runs/{id}", "GET", {"id": scenario.run_id}, None),
        ("/api/billing-customers", "GET", {}, None),
        ("/api/billing-customers/{id}", "GET", {"id": scenario.customer_id}, None),
        ("/api/customers/{id}", "GET", {"id": 1}, None),
        ("/api/invoice-lines/{id}/lineage", "GET", {"id": 1}, None),
        ("/api/messages/{id}", "GET", {"id": f"inv-{invoice_ids[0]}"}, None),
        ("/api/billing-runs", "POST", {}, {"period": "2026-03", "dry_run": True}),
        ("/api/payments", "GET", {}, None),
        ("/api/payments/{id}", "GET", {"id": scenario.payment_id}, None),
        ("/api/unmatched-payments", "GET", {}, None),
        ("/api/unmatched-payments/{id}", "GET", {"id": scenario.unmatched_id}, None),
        ("/api/unmatched-payments/{id}/allocate", "POST", {"id": scenario.unmatched_id},
         {"invoice_id": scenario.invoices["retail-corrected"], "amount": "0.10"}),
        ("/api/messages", "GET", {}, None),
    ]
    for message in (scenario.ids["bank"], "prov-1"):
        for path in ("/api/messages/{id}", "/api/messages/{id}/raw", "/api/messages/{id}/lineage"):
            calls.append((path, "GET", {"id": message}, None))
    for invoice_id in invoice_ids:
        for path in ("/api/invoices/{id}", "/api/invoices/{id}/explanation", "/api/invoices/{id}/lineage",
                     "/api/invoices/{id}/finvoice", "/api/invoices/{id}/pdf"):
            calls.append((path, "GET", {"id": invoice_id}, None))
    for path, method, path_parameters, body in calls:
        operation = schema[path][method]
        case = operation.Case(path_parameters=path_parameters, body=body) if body is not None else \
            operation.Case(path_parameters=path_parameters)
        response = case.call_and_validate(base_url=base, headers=headers)
        assert response.status_code == 200, (path, path_parameters, response.text[:300])
