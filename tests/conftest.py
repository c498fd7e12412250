from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.support.databases import BACKENDS, fresh_database_url, migrated_engine


@pytest.fixture(params=[pytest.param(b, marks=[getattr(pytest.mark, b)]) for b in BACKENDS])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database on each backend; the contract suite runs once per backend."""
    with fresh_database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = migrated_engine(database_url)
    yield eng
    eng.dispose()
