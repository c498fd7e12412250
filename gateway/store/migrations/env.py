"""Alembic environment: runs against the connection or URL handed over by `gateway.store.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData

from gateway.store.db import make_engine
from gateway.store.metadata import all_metadata

config = context.config
target_metadata: list[MetaData] = all_metadata()


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only ALTER by copying the table
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
