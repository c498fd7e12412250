"""Which named constraint an IntegrityError violated, on PostgreSQL and on SQLite.

PostgreSQL reports the constraint's name; SQLite reports only its columns ("UNIQUE constraint failed:
t.a, t.b"), which are mapped back to the named constraint declared in the metadata. Callers match names,
never error texts.
"""

from __future__ import annotations

import re

from sqlalchemy import MetaData, UniqueConstraint
from sqlalchemy.exc import IntegrityError

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")


def violated_constraint(exc: IntegrityError, metadata: list[MetaData]) -> str | None:
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None):
        return str(diag.constraint_name)
    match = _SQLITE_UNIQUE.search(str(orig))
    if not match:
        return None
    columns = [part.strip() for part in match.group(1).split(",")]
    table_name = columns[0].split(".")[0]
    names = {c.split(".", 1)[1] for c in columns}
    for md in metadata:
        table = md.tables.get(table_name)
        if table is None:
            continue
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint) and {c.name for c in constraint.columns} == names:
                return str(constraint.name)
        for index in table.indexes:
            if index.unique and {c.name for c in index.columns} == names:
                return str(index.name)
        if table.primary_key is not None and {c.name for c in table.primary_key.columns} == names:
            return str(table.primary_key.name or f"pk_{table_name}")
    return None
