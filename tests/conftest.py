from __future__ import annotations

from collections import Counter
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give schemathesis's tests (one per API operation) node ids of their own: they all carry the test function's
    id, and pytest-xdist tells tests apart by node id, so it ran one operation out of all of them."""
    seen = Counter(item.nodeid for item in items)
    for item in items:
        if seen[item.nodeid] > 1 and item.parent is not None and item.name != item.nodeid.rpartition("::")[2]:
            item._id = item.parent.id.child(item.name)  # how pytest itself names a node under its parent
    duplicates = [nodeid for nodeid, count in Counter(item.nodeid for item in items).items() if count > 1]
    assert not duplicates, f"tests that share a node id would be run once under xdist: {duplicates}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    drop_templates()
