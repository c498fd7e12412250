"""Query helpers that differ by database."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement


def in_values(session: Session, column: Any, values: Collection[str]) -> ColumnElement[bool]:
    """`column IN (values)`. On PostgreSQL one array parameter (`= ANY(:values)`) instead of one bind parameter
    per value: a 1,000-series bundle would otherwise send and parse thousands of parameters per query."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(String())))  # type: ignore[no-any-return]
    return column.in_(list(values))  # type: ignore[no-any-return]
