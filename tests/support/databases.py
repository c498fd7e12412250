"""Fresh databases for the contract suite: a SQLite file, and a throw-away PostgreSQL database.

A fresh database is empty (unmigrated) unless asked for `migrated=True`; then it is a copy of a template that was
migrated once per test process and backend (a SQLite file copied, `CREATE DATABASE ... TEMPLATE` on PostgreSQL),
because running the whole Alembic chain for every test was a large share of the suite's time. The templates are
removed by `drop_templates()` at the end of the session (tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
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

# backend -> the migrated template of this process: a PostgreSQL database name, or a SQLite file path.
_templates: dict[str, str] = {}


def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def skip_or_fail_without_postgres() -> None:
    reason = f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; in CI a skip of the PostgreSQL tests is a failure")
    pytest.skip(reason)


def _postgres_url(admin: str, database: str) -> str:
    return make_url(admin).set(database=database).render_as_string(hide_password=False)


@contextmanager
def fresh_database_url(backend: str, tmp_path: Path, *, migrated: bool = False) -> Iterator[str]:
    """A database of this test's own: empty, or with `migrated=True` at head with the declared subscriptions
    (what `migrated_engine` would make of an empty one)."""
    if backend == "sqlite":
        path = tmp_path / "gateway.db"
        if migrated:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_sqlite_template(), path)
        yield f"sqlite:///{path}"
        return
    admin = postgres_admin_url()
    if admin is None:
        skip_or_fail_without_postgres()
        raise AssertionError("unreachable")
    template = _postgres_template(admin) if migrated else None
    name = f"gwtest_{uuid.uuid4().hex[:12]}"
    admin_engine = make_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
        yield _postgres_url(admin, name)
    finally:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


def migrated_engine(url: str) -> Engine:
    from gateway.store.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    return engine


def _sqlite_template() -> str:
    if "sqlite" not in _templates:
        path = Path(tempfile.mkdtemp(prefix="gwtpl-")) / "template.db"
        try:
            migrated_engine(f"sqlite:///{path}").dispose()
            # Fold the write-ahead log into the file, so the file alone is the whole database to copy.
            conn = sqlite3.connect(path)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
            if Path(f"{path}-wal").exists():
                raise RuntimeError(f"{path}-wal is still there: the SQLite template is not a single file")
        except BaseException:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise
        _templates["sqlite"] = str(path)
    return _templates["sqlite"]


def _postgres_template(admin: str) -> str:
    if "postgresql" not in _templates:
        # Unique per process: several sessions (and xdist workers) share one server.
        name = f"gwtpl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        admin_engine = make_engine(admin, isolation_level="AUTOCOMMIT")
        try:
            with admin_engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                migrated_engine(_postgres_url(admin, name)).dispose()
                # CREATE DATABASE ... TEMPLATE fails while anyone is connected to the template: let no one.
                with admin_engine.connect() as conn:
                    conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            except BaseException:
                with admin_engine.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                raise
        finally:
            admin_engine.dispose()
        _templates["postgresql"] = name
    return _templates["postgresql"]


def drop_templates() -> None:
    """Remove this process's templates (called once at the end of the session)."""
    if (sqlite_template := _templates.pop("sqlite", None)) is not None:
        shutil.rmtree(Path(sqlite_template).parent, ignore_errors=True)
    if (pg_template := _templates.pop("postgresql", None)) is not None and (admin := postgres_admin_url()):
        admin_engine = make_engine(admin, isolation_level="AUTOCOMMIT")
        try:
            with admin_engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_template}" WITH (FORCE)'))
        finally:
            admin_engine.dispose()
