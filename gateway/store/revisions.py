"""Which schema revision a database is at and which one this code needs, without importing Alembic.

Every command that touches the database checks the schema first, and importing Alembic alone costs more than
a light command's whole run (about 0.3 s here). The head is read from the revision files' own `revision` and
`down_revision` assignments (syntax only, nothing is imported); a test holds it equal to Alembic's answer.
Migrating stays Alembic's job (`gateway.store.migrate`).
"""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"
VERSION_TABLE = "alembic_version"


class RevisionFilesError(RuntimeError):
    """The revision files do not form one line of history (several heads, or none)."""


def _assigned(tree: ast.Module, name: str) -> object:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return None if node.value is None else ast.literal_eval(node.value)
    raise RevisionFilesError(f"no `{name} = …` in a revision file")


def revision_graph(directory: Path = VERSIONS) -> dict[str, tuple[str, ...]]:
    """revision → the revisions it revises, for every revision file in ``directory``."""
    graph: dict[str, tuple[str, ...]] = {}
    for path in sorted(directory.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        revision = _assigned(tree, "revision")
        down = _assigned(tree, "down_revision")
        if not isinstance(revision, str):
            raise RevisionFilesError(f"{path.name}: `revision` must be a string")
        if down is None:
            graph[revision] = ()
        elif isinstance(down, str):
            graph[revision] = (down,)
        elif isinstance(down, tuple | list):
            graph[revision] = tuple(str(d) for d in down)  # a merge revision
        else:
            raise RevisionFilesError(f"{path.name}: `down_revision` must be a string, a tuple of them or None")
    return graph


def head_revisions(directory: Path = VERSIONS) -> frozenset[str]:
    graph = revision_graph(directory)
    revised = {parent for parents in graph.values() for parent in parents}
    return frozenset(graph) - revised


def head_revision(directory: Path = VERSIONS) -> str:
    heads = head_revisions(directory)
    if len(heads) != 1:
        raise RevisionFilesError(f"the migration files have {len(heads)} heads ({', '.join(sorted(heads))}), not one")
    return next(iter(heads))


def known_revisions(directory: Path = VERSIONS) -> frozenset[str]:
    return frozenset(revision_graph(directory))


def current_revision(connection: Connection) -> str | None:
    """The revision recorded in the database; None when it was never migrated."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
