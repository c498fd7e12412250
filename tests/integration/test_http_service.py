"""The HTTP service's operational endpoints, over real HTTP."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.app import create_app
from gateway.config import Settings
from outbox import enqueue


async def test_health_reports_schema_revision_and_metrics_use_prometheus_text(
    aiohttp_client: object, engine: Engine, database_url: str
) -> None:
    with Session(engine) as s, s.begin():
        enqueue(s, "datahub.send", {"n": 1})
    client: TestClient = await aiohttp_client(create_app(Settings(database_url=database_url), engine))  # type: ignore[operator]

    health = await client.get("/health")
    assert health.status == 200
    body = await health.json()
    assert body["status"] == "ok" and body["schema_revision"] == body["head"]

    metrics = await client.get("/metrics")
    assert metrics.status == 200 and metrics.content_type == "text/plain"
    text = await metrics.text()
    assert "# TYPE gateway_outbox_messages gauge" in text
    assert 'gateway_outbox_messages{topic="datahub.send",state="pending"} 1' in text


async def test_health_is_503_before_migrations(aiohttp_client: object, database_url: str) -> None:
    client: TestClient = await aiohttp_client(create_app(Settings(database_url=database_url)))  # type: ignore[operator]
    response = await client.get("/health")
    assert response.status == 503
    assert (await response.json())["status"] == "migrations pending"
