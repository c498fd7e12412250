"""The gateway's database engine: SQLite under `var/` by default, PostgreSQL by URL."""

from outbox.engine import is_sqlite, make_engine

__all__ = ["is_sqlite", "make_engine"]
