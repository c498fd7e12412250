"""Alembic migrations: an empty database and one at the previous revision both reach head."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from gateway.events import subscriptions
from gateway.store.db import make_engine
from gateway.store.metadata import all_metadata
from gateway.store.migrate import alembic_config, current_revision, head_revision, upgrade
from outbox import PENDING
from outbox.schema import outbox_delivery, outbox_message
from outbox.subscriptions import subscribed
from outbox.worker import Worker
from tests.support.outbox_handlers import noop_registry

FANOUT = "0004_outbox_fanout"


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
    with engine.begin() as conn:
        _write_message(conn, "kept", "metering.received", {"written at": previous})
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    with Session(engine) as s:
        assert s.execute(select(outbox_message.c.message_id)).scalars().all() == ["kept"]
    engine.dispose()


def _write_message(conn: Connection, message_id: str, topic: str, payload: object, **state: object) -> None:
    """An outbox message as the code of the database's revision wrote it (state columns before fan-out)."""
    import json

    values = {"message_id": message_id, "topic": topic, "key": None, "payload": json.dumps(payload),
              "created_at": datetime(2026, 11, 1, tzinfo=UTC)}
    if "state" in {c["name"] for c in inspect(conn).get_columns("outbox_message")}:
        values |= {"state": PENDING, "attempts": 0, "max_attempts": 8, "next_attempt_at": values["created_at"]}
        values |= state
    columns = ", ".join(f'"{name}"' for name in values)
    conn.execute(text(f"INSERT INTO outbox_message ({columns}) VALUES ({', '.join(':' + n for n in values)})"),
                 {k: v.replace(tzinfo=None) if isinstance(v, datetime) and conn.dialect.name == "sqlite" else v
                  for k, v in values.items()})


def _deliveries(engine: Engine) -> dict[tuple[str, str], dict[str, object]]:
    d, m = outbox_delivery.c, outbox_message.c
    with Session(engine) as s:
        rows = s.execute(select(m.message_id, d.consumer, d.state, d.attempts, d.calls, d.last_error, d.key)
                         .join(outbox_message, m.id == d.message_pk)).all()
    return {(r.message_id, r.consumer): dict(r._mapping) for r in rows}


def test_fan_out_gives_each_waiting_message_a_delivery_for_its_former_consumer(database_url: str) -> None:
    engine = make_engine(database_url)
    before = ScriptDirectory.from_config(alembic_config(engine)).get_revision(FANOUT).down_revision
    assert isinstance(before, str)
    upgrade(engine, before)
    with engine.begin() as conn:
        _write_message(conn, "m1", "metering.received", {"series": []}, attempts=2, last_error="held: 3 missing")
        _write_message(conn, "s1", "datahub.send", {"message_id": "x"}, attempts=1)
        _write_message(conn, "d1", "rating.rerate", {}, state="done", attempts=1)
        _write_message(conn, "c1", "masterdata.customer", {"customer_id": 1})  # nobody consumed these

    upgrade(engine)

    found = _deliveries(engine)
    assert set(found) == {("m1", "rating.rerate-on-metering"), ("s1", "gateway.datahub_send"),
                          ("d1", "rating.rerate-period")}
    metering = found[("m1", "rating.rerate-on-metering")]
    assert (metering["state"], metering["attempts"], metering["last_error"]) == (PENDING, 2, "held: 3 missing")
    assert found[("s1", "gateway.datahub_send")]["calls"] == 1, "the send already called Datahub once"
    assert found[("d1", "rating.rerate-period")]["state"] == "done"
    with engine.connect() as conn:
        assert subscribed(conn) == subscriptions()
    with Session(engine) as s:
        assert len(s.execute(select(outbox_message.c.id)).all()) == 4, "every message is kept"
    (claimed,) = Worker(engine, noop_registry("metering.received", "rating.rerate-on-metering")).claim()
    assert (claimed.message_id, claimed.attempts) == ("m1", 3)

    cfg = alembic_config(engine)  # and back: each message takes its delivery's state again
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, before)
    with engine.connect() as conn:
        states = dict(conn.execute(text("SELECT message_id, state FROM outbox_message")).all())  # type: ignore[arg-type]
    assert states == {"m1": "processing", "s1": PENDING, "d1": "done", "c1": "done"}
    upgrade(engine)
    assert set(_deliveries(engine)) == {("m1", "rating.rerate-on-metering"), ("s1", "gateway.datahub_send"),
                                        ("d1", "rating.rerate-period")}
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


def test_invoice_documents_are_compressed_with_lz4_on_postgresql(database_url: str) -> None:
    """0011: new Finvoice and document values of invoices are LZ4-compressed (pglz again after a downgrade)."""
    engine = make_engine(database_url)
    upgrade(engine)
    if engine.dialect.name != "postgresql":
        assert current_revision(engine) == head_revision(engine)  # nothing to change where values are not compressed
        engine.dispose()
        return

    def methods() -> dict[str, str]:
        with engine.connect() as conn:
            return dict(conn.execute(text(
                "SELECT attname, attcompression FROM pg_attribute WHERE attrelid = 'invoice'::regclass "
                "AND attname IN ('finvoice', 'document')")).all())

    assert methods() == {"finvoice": "l", "document": "l"}
    command.downgrade(alembic_config(engine), "0010_support2")
    assert methods() == {"finvoice": "p", "document": "p"}
    engine.dispose()
