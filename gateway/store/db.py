"""The gateway's database engine: SQLite under `var/` by default, PostgreSQL by URL."""

from outbox.engine import make_engine

__all__ = ["make_engine"]
