"""Query helpers that differ by database."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import BigInteger, String, Table, any_, bindparam, cast, func, insert, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType

from outbox.bulk import insert_rows, pg_array_literal

__all__ = ["draw_ids", "ids_matcher", "in_ids", "in_values", "insert_rows", "insert_rows_returning_ids", "pg_in_array"]


def in_values(session: Session, column: Any, values: Collection[str] | Collection[int]) -> ColumnElement[bool]:
    """`column IN (values)`. On PostgreSQL one array parameter instead of one bind parameter per value: a 1,000-series
    bundle would otherwise send and parse thousands of parameters per query. Values are all strings or all
    integers. See `pg_in_array` for its form."""
    if session.get_bind().dialect.name == "postgresql":
        items: list[int | str] = list(values)
        return pg_in_array(column, items, BigInteger() if items and isinstance(items[0], int) else String())
    return column.in_(list(values))  # type: ignore[no-any-return]


def in_ids(session: Session, column: Any, ids: Collection[int]) -> ColumnElement[bool]:
    """`column IN (ids)`, one array parameter on PostgreSQL as `in_values`."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_in_array(column, ids, BigInteger())
    return column.in_(list(ids))  # type: ignore[no-any-return]


def ids_matcher(session: Session, ids: Collection[int]) -> Callable[[Any], ColumnElement[bool]]:
    """`in_ids` for several columns against the same ids: the array's text is written once."""
    if session.get_bind().dialect.name == "postgresql":
        array = pg_array_literal(ids)
        return lambda column: _pg_any(column, array, BigInteger())
    listed = list(ids)
    return lambda column: column.in_(listed)  # type: ignore[no-any-return]


def pg_in_array(column: Any, values: Collection[int | str], element_type: Any) -> ColumnElement[bool]:
    """`column = ANY(CAST(:array AS type[]))`, the array sent in its text form (`pg_array_literal`).

    Text, because psycopg adapts a list element by element in Python, five to twenty times slower for the thousands
    of ids a bulk lookup sends. The parameter goes untyped (no `::VARCHAR` of its own), so PostgreSQL reads it as
    the array when the statement is bound: the plan sees a constant array, as with a bound list, which an index
    scan takes as its condition and a filter hashes. (`CAST(:text::VARCHAR AS …)` would be converted per
    execution instead: a freshly loaded table without statistics then got a nested loop comparing every row with
    every element, a minute for 2,000 references against 100,000 invoices.)"""
    return _pg_any(column, pg_array_literal(values), element_type)


def _pg_any(column: Any, array: str, element_type: Any) -> ColumnElement[bool]:
    """`column = ANY(CAST(:array AS type[]))` for an array already in its text form."""
    return column == any_(cast(bindparam(None, array, type_=NullType()), ARRAY(element_type)))  # type: ignore[no-any-return]


def insert_rows_returning_ids(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert many rows and return their generated `id`s in row order.

    On PostgreSQL the ids are drawn from the column's sequence first and the rows go in by COPY: a RETURNING
    executemany would be sent as one multi-row VALUES statement per batch, which the driver has to split and
    convert parameter by parameter. On SQLite the rows are numbered here as SQLite itself would number them
    (the largest id + 1, + 2, …: the tables have no AUTOINCREMENT) and go in by one executemany; RETURNING in
    parameter order makes SQLAlchemy send one INSERT per row there. The numbering is safe because writing
    transactions begin IMMEDIATE (they hold the write lock); a deferred one that lost the race to another
    writer fails on its first write (SQLITE_BUSY_SNAPSHOT) rather than reuse an id.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name not in ("sqlite", "postgresql"):
        ids = session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), list(rows))
        return [int(i) for i in ids.scalars()]
    drawn = draw_ids(session, table, len(rows))
    insert_rows(session, table, [{"id": i, **row} for i, row in zip(drawn, rows, strict=True)])
    return drawn


def draw_ids(session: Session, table: Table, n: int) -> list[int]:
    """`n` new ids for `table`'s rows, ascending, for a caller that puts them in its rows itself and inserts them
    with `insert_rows` (as `insert_rows_returning_ids` does; read its notes): on PostgreSQL drawn from the id
    column's sequence, on SQLite the largest id + 1, + 2, … (safe only inside a writing transaction, and only
    until the rows are inserted: insert them before drawing again for the same table)."""
    if n <= 0:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        first = int(session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1
        return list(range(first, first + n))
    if dialect != "postgresql":
        raise NotImplementedError(f"draw_ids on {dialect}")
    # The sequence's name is looked up first: inside the drawing query pg_get_serial_sequence would run once per
    # id, four times the cost of the draw itself.
    sequence = session.execute(text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}).scalar_one()
    return [int(i) for i in session.execute(
        text("SELECT nextval(CAST(:sequence AS regclass)) AS id FROM generate_series(1, :n) ORDER BY id"),
        {"sequence": sequence, "n": n},
    ).scalars()]
