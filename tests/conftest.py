from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from gateway.store.db import make_engine
from tests.support.databases import BACKENDS, drop_templates, fresh_database_url

# A test using any of these gets its database migrated (the fixtures below), the others get it empty.
MIGRATED_BY = frozenset({"engine", "migrated_database_url"})


@pytest.fixture(params=[pytest.param(b, marks=[getattr(pytest.mark, b)]) for b in BACKENDS])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on each backend; the contract suite runs once per backend. It is empty, unless the test
    also uses `engine` or `migrated_database_url`: then it is a copy of a migrated template."""
    migrated = not MIGRATED_BY.isdisjoint(request.fixturenames)
    with fresh_database_url(request.param, tmp_path, migrated=migrated) as url:
        yield url


@pytest.fixture
def migrated_database_url(database_url: str) -> str:
    """`database_url` at head, with the declared outbox subscriptions (what `gateway migrate` makes of it)."""
    return database_url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def pytest_sessionfinish(session: pytest.Session) -> None:
    drop_templates()
