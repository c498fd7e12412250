"""Query helpers that differ by database."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import JSON, String, Table, any_, bindparam, insert, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement


def in_values(session: Session, column: Any, values: Collection[str]) -> ColumnElement[bool]:
    """`column IN (values)`. On PostgreSQL one array parameter (`= ANY(:values)`) instead of one bind parameter
    per value: a 1,000-series bundle would otherwise send and parse thousands of parameters per query."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(String())))  # type: ignore[no-any-return]
    return column.in_(list(values))  # type: ignore[no-any-return]


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows (no RETURNING) in the session's transaction.

    On PostgreSQL one COPY stream: a 1,000-series bundle otherwise costs one Bind/Execute per row on the server
    and a parameter round of SQLAlchemy per row on the client. Elsewhere one executemany. A violated constraint
    surfaces as SQLAlchemy's IntegrityError either way, so callers match it by name as for any insert.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), list(rows))
        return
    columns = list(rows[0])
    # COPY bypasses SQLAlchemy's parameter processing: apply each column type's own (UTC timestamps, JSON, …).
    dialect = session.get_bind().dialect
    # The psycopg dialect leaves JSON to the driver's own adaptation, which COPY's text rows do not get.
    processors = [json.dumps if isinstance(table.c[name].type, JSON) else table.c[name].type.bind_processor(dialect)
                  for name in columns]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(name) for name in columns))
    connection = session.connection().connection.driver_connection
    assert connection is not None
    try:
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([
                    value if process is None or value is None else process(value)
                    for process, value in zip(processors, (row[name] for name in columns), strict=True)
                ])
    except psycopg.IntegrityError as exc:
        raise IntegrityError(statement.as_string(connection), None, exc) from exc


def insert_rows_returning_ids(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert many rows and return their generated `id`s in row order.

    On PostgreSQL the ids are drawn from the column's sequence first and the rows go in by COPY: a RETURNING
    executemany would be sent as one multi-row VALUES statement per batch, which the driver has to split and
    convert parameter by parameter. Elsewhere INSERT … RETURNING, sorted by parameter order.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name != "postgresql":
        ids = session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), list(rows))
        return [int(i) for i in ids.scalars()]
    drawn = [int(i) for i in session.execute(
        text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
        {"table": table.name, "n": len(rows)},
    ).scalars()]
    insert_rows(session, table, [{"id": i, **row} for i, row in zip(drawn, rows, strict=True)])
    return drawn
