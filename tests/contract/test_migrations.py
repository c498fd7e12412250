"""Alembic migrations: an empty database and one at the previous revision both reach head."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from gateway.store.db import make_engine
from gateway.store.metadata import all_metadata
from gateway.store.migrate import alembic_config, current_revision, head_revision, upgrade
from outbox import enqueue
from outbox.schema import outbox_message


def test_empty_database_upgrades_to_head_with_every_table(database_url: str) -> None:
    engine = make_engine(database_url)
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    expected = {t for md in all_metadata() for t in md.tables}
    assert expected <= set(inspect(engine).get_table_names())
    upgrade(engine)  # idempotent
    engine.dispose()


def test_database_at_previous_revision_upgrades_and_keeps_its_data(database_url: str) -> None:
    engine = make_engine(database_url)
    script = ScriptDirectory.from_config(alembic_config(engine))
    revisions = [r.revision for r in script.walk_revisions()][::-1]  # oldest first
    previous = revisions[-2] if len(revisions) > 1 else revisions[0]
    upgrade(engine, previous)
    assert current_revision(engine) == previous
    with Session(engine) as s, s.begin():
        mid = enqueue(s, "kept", {"written at": previous})
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    with Session(engine) as s:
        assert s.execute(select(outbox_message.c.message_id)).scalars().all() == [mid]
    engine.dispose()


def test_models_and_migrations_agree(database_url: str) -> None:
    """Autogenerate finds nothing to do: the tables in code are exactly what the migrations build."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(database_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), all_metadata())  # type: ignore[arg-type]
    assert diff == []
    engine.dispose()
