"""Fresh, migrated databases for the contract suite: a SQLite file, and a throw-away PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from gateway.store.db import make_engine

POSTGRES_ENV = "GATEWAY_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def skip_or_fail_without_postgres() -> None:
    reason = f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; in CI a skip of the PostgreSQL tests is a failure")
    pytest.skip(reason)


@contextmanager
def fresh_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'gateway.db'}"
        return
    admin = postgres_admin_url()
    if admin is None:
        skip_or_fail_without_postgres()
        raise AssertionError("unreachable")
    name = f"gwtest_{uuid.uuid4().hex[:12]}"
    admin_engine = make_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


def migrated_engine(url: str) -> Engine:
    from gateway.store.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    return engine
