"""Engines configured for concurrent workers: SQLite in WAL mode with immediate write locks, PostgreSQL pooled.

SQLite runs with `synchronous=FULL`: in WAL mode NORMAL syncs the log only at checkpoints, so a commit that
was acknowledged can vanish with a power cut (not with a process crash), which would break "nothing
acknowledged is lost". FULL syncs the log at every commit; its cost is in the README's benchmark table.
`sqlite_synchronous="NORMAL"` exists for that measurement, not for production.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

SQLITE_SYNCHRONOUS = "FULL"


def make_engine(url: str, *, sqlite_synchronous: str | None = None, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        synchronous = (sqlite_synchronous or SQLITE_SYNCHRONOUS).upper()
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"sqlite_synchronous must be FULL, NORMAL or EXTRA, not {sqlite_synchronous!r}")
        return _sqlite_engine(url, synchronous, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_engine(url: str, synchronous: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event below decide how transactions start (pysqlite's own handling defers
        # the write lock and then fails with "database is locked" under concurrent writers).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front, so busy_timeout applies instead of a deadlock on upgrade.
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine

