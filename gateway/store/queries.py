"""Query helpers that differ by database."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import JSON, String, Table, any_, bindparam, insert
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
    as_json = {name for name in columns if isinstance(table.c[name].type, JSON)}
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(name) for name in columns))
    connection = session.connection().connection.driver_connection
    assert connection is not None
    try:
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([
                    json.dumps(row[name]) if name in as_json and row[name] is not None else row[name]
                    for name in columns
                ])
    except psycopg.IntegrityError as exc:
        raise IntegrityError(statement.as_string(connection), None, exc) from exc
