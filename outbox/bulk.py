"""Inserting many rows at once, the fastest way each database offers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator, TypeEngine

_COPY_FROM = 8  # rows; below this a COPY's extra exchanges with the server cost more than they save


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows (no RETURNING) in the session's transaction.

    On PostgreSQL one COPY stream, where an executemany costs one Bind/Execute per row on the server and a
    round of SQLAlchemy parameter processing per row on the client. On SQLite one executemany on the driver's
    connection, with the column types' own bind processors applied here: the same values SQLAlchemy would send,
    without its per-row statement bookkeeping, which cost more than SQLite's own work on the rows. Elsewhere
    SQLAlchemy's executemany. A violated constraint surfaces as SQLAlchemy's IntegrityError either way, so callers
    match it by name as for any insert.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect
    if len(rows) >= _COPY_FROM and (dialect.name, dialect.driver) == ("sqlite", "pysqlite"):
        _executemany_sqlite(session, table, rows, dialect)
        return
    if len(rows) < _COPY_FROM or (dialect.name, dialect.driver) != ("postgresql", "psycopg"):
        session.execute(insert(table), list(rows))
        return
    import psycopg  # PostgreSQL only: SQLite users need no driver for it
    from psycopg import sql

    columns = list(rows[0])  # every row has the same keys
    processors = [(i, process) for i, name in enumerate(columns)
                  if (process := _copy_processor(table.c[name].type, dialect)) is not None]
    wire = binary_copy_types(table, tuple(columns), dialect)
    statement = sql.SQL("COPY {} ({}) FROM STDIN" + (" (FORMAT BINARY)" if wire else "")).format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(name) for name in columns))
    connection = session.connection().connection.driver_connection
    assert connection is not None
    try:
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            if wire:
                copy.set_types(wire)
            for row in rows:
                values = [row[name] for name in columns]
                for i, process in processors:
                    values[i] = process(values[i])
                copy.write_row(values)
    except psycopg.Error as exc:
        # As SQLAlchemy would raise it (IntegrityError, OperationalError, …): callers match constraint names and
        # retry transient errors the same way for every insert.
        raise DBAPIError.instance(statement.as_string(connection), None, exc, psycopg.Error) from exc


def pg_array_literal(values: Iterable[int | str]) -> str:
    """PostgreSQL's text form of an array of integers or strings (``{1,2}``, ``{"a","b\\"c"}``), to send as one
    text parameter and CAST to ``bigint[]`` / ``text[]``: psycopg adapts a list element by element in Python,
    five to twenty times slower for the thousands of ids a bulk lookup sends."""
    items = values if isinstance(values, list | tuple) else list(values)
    kinds = set(map(type, items))
    # The common cases in C: all integers, or all strings without a quote or backslash to escape.
    if kinds == {int}:
        return "{" + ",".join(map(str, items)) + "}"
    if kinds == {str}:
        joined = '","'.join(items)  # type: ignore[arg-type]
        if "\\" not in joined and joined.count('"') == 2 * (len(items) - 1):
            return '{"' + joined + '"}'
    parts = []
    for value in items:
        if isinstance(value, int):
            parts.append(str(value))
        elif isinstance(value, str):
            parts.append('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
        else:
            raise TypeError(f"an array element must be an int or a str, not {type(value).__name__}")
    return "{" + ",".join(parts) + "}"


def _executemany_sqlite(session: Session, table: Table, rows: Sequence[Mapping[str, Any]], dialect: Dialect) -> None:
    import sqlite3

    columns = tuple(rows[0])  # every row has the same keys
    statement, processors = _sqlite_insert(table, columns, dialect)
    params = []
    for row in rows:
        values = [row[name] for name in columns]
        for i, process in processors:
            values[i] = process(values[i])
        params.append(values)
    connection = session.connection().connection.driver_connection
    assert connection is not None
    try:
        connection.executemany(statement, params)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


@lru_cache(maxsize=128)
def _sqlite_insert(
    table: Table, columns: tuple[str, ...], dialect: Dialect
) -> tuple[str, tuple[tuple[int, Callable[[Any], Any]], ...]]:
    """The INSERT for `columns` of `table` with qmark parameters, and the bind processor of each column that has
    one, exactly as SQLAlchemy applies them (None included: JSON stores null, as SQLAlchemy does by default)."""
    quote = dialect.identifier_preparer.quote
    statement = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
                 f"VALUES ({', '.join('?' for _ in columns)})")
    processors = tuple((i, process) for i, name in enumerate(columns)
                       if (process := table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None)
    return statement, processors


# Column types (as PostgreSQL's DDL names them) → the type psycopg writes in binary COPY. Binary COPY sends bytea
# as is and numbers and timestamps in their binary form: several times cheaper than text, where bytea travels as
# hex, on both ends. varchar and json go as text: their binary form is the text itself (jsonb's is not).
_BINARY_WIRE_TYPES = {
    "VARCHAR": "text", "TEXT": "text", "JSON": "text",
    "SMALLINT": "int2", "INTEGER": "int4", "BIGINT": "int8",
    "BOOLEAN": "bool", "BYTEA": "bytea", "DATE": "date", "DOUBLE PRECISION": "float8", "FLOAT": "float8",
    "TIMESTAMP WITH TIME ZONE": "timestamptz", "TIMESTAMP WITHOUT TIME ZONE": "timestamp",
}


@lru_cache(maxsize=128)
def binary_copy_types(table: Table, columns: tuple[str, ...], dialect: Dialect) -> tuple[str, ...] | None:
    """The psycopg types to write `columns` of `table` in binary COPY, or None when a column has a type without
    a safe binary mapping here (that table then goes by text COPY)."""
    wire = []
    for name in columns:
        ddl = table.c[name].type.compile(dialect=dialect).split("(")[0].strip().upper()
        if ddl not in _BINARY_WIRE_TYPES:
            return None
        wire.append(_BINARY_WIRE_TYPES[ddl])
    return tuple(wire)


def _copy_processor(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """COPY bypasses SQLAlchemy's parameter processing: the column type's own (UTC timestamps, …), and JSON
    dumped here, because the psycopg dialect leaves it to the driver's adaptation that COPY's rows do not get.
    None stays SQL NULL except in a JSON column, which stores JSON null as SQLAlchemy does by default."""
    if isinstance(column_type, JSON):
        if column_type.none_as_null:
            return lambda value: None if value is None else json.dumps(value)
        return lambda value: "null" if value is None else json.dumps(value)
    process = column_type.bind_processor(dialect)
    if process is None:
        return None
    if (isinstance(column_type, TypeDecorator) and column_type.impl_instance.bind_processor(dialect) is None
            and type(column_type).process_bind_param is not TypeDecorator.process_bind_param):
        # Straight to the decorator's own conversion (UTC timestamps): one call per value, not three.
        convert = column_type.process_bind_param
        return lambda value: None if value is None else convert(value, dialect)
    return lambda value: None if value is None else process(value)
