"""Inserting many rows at once, the fastest way each database offers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

_COPY_FROM = 8  # rows; below this a COPY's extra exchanges with the server cost more than they save


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows (no RETURNING) in the session's transaction.

    On PostgreSQL one COPY stream, where an executemany costs one Bind/Execute per row on the server and a
    round of SQLAlchemy parameter processing per row on the client. Elsewhere one executemany. A violated
    constraint surfaces as SQLAlchemy's IntegrityError either way, so callers match it by name as for any insert.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect
    if len(rows) < _COPY_FROM or (dialect.name, dialect.driver) != ("postgresql", "psycopg"):
        session.execute(insert(table), list(rows))
        return
    import psycopg  # PostgreSQL only: SQLite users need no driver for it
    from psycopg import sql

    columns = list(rows[0])  # every row has the same keys
    processors = [_copy_processor(table.c[name].type, dialect) for name in columns]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(name) for name in columns))
    connection = session.connection().connection.driver_connection
    assert connection is not None
    try:
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([
                    value if process is None else process(value)
                    for process, value in zip(processors, (row[name] for name in columns), strict=True)
                ])
    except psycopg.Error as exc:
        # As SQLAlchemy would raise it (IntegrityError, OperationalError, …): callers match constraint names and
        # retry transient errors the same way for every insert.
        raise DBAPIError.instance(statement.as_string(connection), None, exc, psycopg.Error) from exc


def _copy_processor(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """COPY bypasses SQLAlchemy's parameter processing: the column type's own (UTC timestamps, …), and JSON
    dumped here, because the psycopg dialect leaves it to the driver's adaptation that COPY's rows do not get.
    None stays SQL NULL except in a JSON column, which stores JSON null as SQLAlchemy does by default."""
    if isinstance(column_type, JSON):
        none_as_null = column_type.none_as_null
        return lambda value: None if value is None and none_as_null else json.dumps(value)
    process = column_type.bind_processor(dialect)
    if process is None:
        return None
    return lambda value: None if value is None else process(value)
