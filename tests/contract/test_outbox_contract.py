"""The outbox's promises, checked identically on SQLite and PostgreSQL.

Time moves with a ManualClock that the workers, their SQL and the enqueues read: no test waits for the wall
clock or depends on the machine's speed (threads wait on events, with generous limits).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, func, insert, select, type_coerce, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from outbox import (
    DEAD,
    DISCARDED,
    DONE,
    PENDING,
    ExternalCall,
    HandlerRegistry,
    ManualClock,
    NoConsumerError,
    OutboxMessage,
    OutboxSettings,
    enqueue,
    enqueue_many,
    enqueue_select,
)
from outbox.admin import (
    dead_letters,
    discard,
    held_keys,
    prometheus_metrics,
    purge_inbox,
    purge_processed,
    replay,
    status,
)
from outbox.clock import DatabaseClock
from outbox.schema import outbox_archive, outbox_delivery, outbox_inbox, outbox_message
from outbox.subscriptions import subscribe, subscribed, sync
from outbox.types import utcnow
from outbox.worker import NotSubscribedError, Worker

FAST = OutboxSettings(
    lease=timedelta(seconds=30), max_attempts=3, backoff_base=timedelta(seconds=10), jitter=0.0
)
WAIT = 60.0  # seconds a test waits for another thread at most; never reached unless something is broken


def _clock() -> ManualClock:
    # A minute ahead of the real clock, so that rows enqueued on the database's clock are already due.
    return ManualClock(utcnow() + timedelta(minutes=1))


def _serve(engine: Engine, registry: HandlerRegistry) -> HandlerRegistry:
    """Subscribe the registry's consumers, as the application's migration does for its declared ones."""
    with engine.begin() as conn:
        for consumer, topic in registry.subscriptions().items():
            subscribe(conn, topic, consumer)
    return registry


def _deliveries(engine: Engine) -> list[dict[str, Any]]:
    d, m = outbox_delivery.c, outbox_message.c
    with Session(engine) as s:
        rows = s.execute(select(outbox_delivery, m.topic, m.message_id)
                         .join(outbox_message, m.id == d.message_pk).order_by(d.id))
        return [dict(r._mapping) for r in rows]


def _messages(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as s:
        return [dict(r._mapping) for r in s.execute(select(outbox_message).order_by(outbox_message.c.id))]


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def _fails(error: Exception) -> Callable[[Session, OutboxMessage], None]:
    def handler(_s: Session, _m: OutboxMessage) -> None:
        raise error

    return handler


# -- one consumer ------------------------------------------------------------------------------------------------
def test_enqueued_message_is_handled_once_and_marked_done(engine: Engine) -> None:
    seen: list[dict[str, object]] = []
    registry = HandlerRegistry()
    registry.register("greeting", lambda s, m: seen.append(m.payload))
    _serve(engine, registry)
    with Session(engine) as s, s.begin():
        mid = enqueue(s, "greeting", {"hello": "world"}, key="k1")

    outcomes = Worker(engine, registry, FAST).drain()

    assert [o.result for o in outcomes] == [DONE]
    assert seen == [{"hello": "world"}]
    (message,) = _messages(engine)
    assert message["message_id"] == mid and message["key"] == "k1"
    (row,) = _deliveries(engine)
    assert row["state"] == DONE and row["consumer"] == "greeting" and row["key"] == "k1"
    assert row["lease_owner"] is None and row["processed_at"] is not None


def test_rolled_back_transaction_leaves_no_outbox_row(engine: Engine) -> None:
    _serve(engine, _noop("greeting"))
    with pytest.raises(RuntimeError), Session(engine) as s, s.begin():
        enqueue(s, "greeting", {"n": 1})
        raise RuntimeError("the business change failed")
    assert _messages(engine) == [] and _deliveries(engine) == []


def test_failing_handler_is_retried_on_schedule_then_dead_lettered_and_replay_delivers(engine: Engine) -> None:
    calls: list[int] = []
    healthy = threading.Event()

    def flaky(_s: Session, m: OutboxMessage) -> None:
        calls.append(m.attempts)
        if not healthy.is_set():
            raise ConnectionError("partner endpoint down")

    registry = HandlerRegistry()
    registry.register("send", flaky)
    _serve(engine, registry)
    clock = _clock()
    with Session(engine) as s, s.begin():
        enqueue(s, "send", {"n": 1}, settings=FAST, clock=clock)
    worker = Worker(engine, registry, FAST, clock=clock)

    assert [o.result for o in worker.drain()] == ["retry"]
    (row,) = _deliveries(engine)
    assert row["state"] == PENDING and row["attempts"] == 1
    assert "partner endpoint down" in str(row["last_error"])
    # The first retry waits backoff_base; the schedule is in the row, so a restart would keep it.
    assert row["next_attempt_at"] == clock.now() + timedelta(seconds=10)
    clock.advance(timedelta(seconds=9))
    assert worker.drain() == [], "nothing is due before the scheduled time"

    clock.advance(timedelta(seconds=1))
    assert [o.result for o in worker.drain()] == ["retry"]
    assert _deliveries(engine)[0]["next_attempt_at"] == clock.now() + timedelta(seconds=20)
    clock.advance(timedelta(seconds=20))
    assert [o.result for o in worker.drain()] == [DEAD]
    (row,) = _deliveries(engine)
    assert row["state"] == DEAD and row["attempts"] == 3
    assert [(d.topic, d.consumer) for d in dead_letters(engine)] == [("send", "send")]
    clock.advance(timedelta(days=1))
    assert worker.drain() == [], "a dead letter is never picked up by itself"

    healthy.set()
    assert replay(engine, clock=clock) == 1
    assert [o.result for o in worker.drain()] == [DONE]
    assert calls == [1, 2, 3, 1]
    assert _deliveries(engine)[0]["state"] == DONE


def test_poison_message_does_not_block_the_others(engine: Engine) -> None:
    handled: list[int] = []

    def handler(_s: Session, m: OutboxMessage) -> None:
        if m.payload["n"] == 0:
            raise ValueError("cannot map this message")
        handled.append(int(m.payload["n"]))

    registry = HandlerRegistry()
    registry.register("t", handler)
    _serve(engine, registry)
    with Session(engine) as s, s.begin():
        for n in range(5):
            enqueue(s, "t", {"n": n}, max_attempts=1)
    outcomes = Worker(engine, registry, FAST).drain()
    assert sorted(o.result for o in outcomes) == [DEAD, DONE, DONE, DONE, DONE]
    assert handled == [1, 2, 3, 4]


def test_inbox_makes_a_redelivered_message_a_no_op(engine: Engine) -> None:
    effects: list[str] = []
    registry = HandlerRegistry()
    registry.register("t", lambda s, m: effects.append(m.message_id), consumer="billing")
    _serve(engine, registry)
    with Session(engine) as s, s.begin():
        mid = enqueue(s, "t", {})
    worker = Worker(engine, registry, FAST)
    worker.drain()
    # At-least-once delivery: the same delivery comes round again (e.g. reset by an operator).
    with Session(engine) as s, s.begin():
        s.execute(update(outbox_delivery).values(state=PENDING, next_attempt_at=utcnow()))
    assert [o.result for o in worker.drain()] == ["duplicate"]
    assert effects == [mid]
    with Session(engine) as s:
        inbox = s.execute(select(outbox_inbox.c.consumer, outbox_inbox.c.message_id)).all()
    assert [tuple(r) for r in inbox] == [("billing", mid)]


def test_handler_effect_and_inbox_roll_back_together(engine: Engine) -> None:
    def handler(s: Session, _m: OutboxMessage) -> None:
        enqueue(s, "follow-up", {"caused_by": "t"})
        raise RuntimeError("fails after writing")

    registry = HandlerRegistry()
    registry.register("t", handler)
    _serve(engine, registry)
    _serve(engine, _noop("follow-up"))
    with Session(engine) as s, s.begin():
        enqueue(s, "t", {})
    Worker(engine, registry, FAST).drain()
    assert [r["topic"] for r in _messages(engine)] == ["t"], "the handler's own outbox write rolled back with it"
    with Session(engine) as s:
        assert s.execute(select(outbox_inbox)).all() == []


def test_stale_lease_is_reclaimed_and_the_old_owner_cannot_finish(engine: Engine) -> None:
    registry = HandlerRegistry()
    # The effect is a database write, so it commits or rolls back with the handler's transaction.
    registry.register("t", lambda s, m: enqueue(s, "effect", {"of": m.message_id}) and None)
    _serve(engine, registry)
    _serve(engine, _noop("effect"))
    with Session(engine) as s, s.begin():
        enqueue(s, "t", {})
    clock = _clock()
    short = OutboxSettings(lease=timedelta(seconds=30), jitter=0.0)
    crashed = Worker(engine, registry, short, worker_id="crashed", clock=clock)
    (claimed,) = crashed.claim()
    rescuer = Worker(engine, registry, short, worker_id="rescuer", clock=clock)
    clock.advance(timedelta(seconds=29))
    assert rescuer.claim() == [], "a live lease is respected"

    clock.advance(timedelta(seconds=1))  # the lease runs out
    (reclaimed,) = rescuer.claim()
    assert reclaimed.id == claimed.id and reclaimed.attempts == 2
    assert crashed.handle(claimed).result == "lease_lost"
    assert rescuer.handle(reclaimed).result == DONE
    assert [r["topic"] for r in _messages(engine)] == ["t", "effect"], "the effect happened exactly once"


def test_two_workers_never_claim_the_same_row(engine: Engine) -> None:
    registry = _serve(engine, _noop("t"))
    with Session(engine) as s, s.begin():
        enqueue_many(s, "t", [({"n": n}, None) for n in range(200)])
    claims: dict[str, list[int]] = {"a": [], "b": []}

    def grab(name: str) -> None:
        worker = Worker(engine, registry, OutboxSettings(batch_size=7), worker_id=name)
        while batch := worker.claim():
            claims[name].extend(m.id for m in batch)

    threads = [threading.Thread(target=grab, args=(n,)) for n in claims]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(claims["a"]) & set(claims["b"])
    assert len(claims["a"]) + len(claims["b"]) == 200


def test_retention_archives_or_deletes_only_messages_every_consumer_finished(engine: Engine) -> None:
    registry = _serve(engine, _noop("t"))
    _serve(engine, _noop("t", consumer="slow-consumer"))
    clock = _clock()
    with Session(engine) as s, s.begin():
        for n in range(4):
            enqueue(s, "t", {"n": n}, clock=clock)
    Worker(engine, registry, FAST, clock=clock).drain()  # only consumer "t": "slow-consumer" has not run
    ids = [r["id"] for r in _messages(engine)]
    d = outbox_delivery.c
    with Session(engine) as s, s.begin():  # the slow consumer finished the first three long ago
        s.execute(update(outbox_delivery).where(d.consumer == "slow-consumer", d.message_pk.in_(ids[:3]))
                  .values(state=DONE, processed_at=clock.now()))
    clock.advance(timedelta(days=30))
    with Session(engine) as s, s.begin():
        enqueue(s, "t", {"n": "recent"}, clock=clock)

    assert purge_processed(engine, timedelta(days=14), archive=True, clock=clock) == 3
    with Session(engine) as s:
        archived = s.execute(select(outbox_archive.c.id, outbox_archive.c.attempts)).all()
        left = s.execute(select(func.count()).select_from(outbox_delivery)).scalar_one()
    assert sorted(archived) == [(i, 1) for i in ids[:3]], "attempts summed over consumers (the slow one made none)"
    assert [r["id"] for r in _messages(engine)] == [ids[3], ids[3] + 1]
    assert left == 4, "the remaining messages keep their deliveries"
    assert purge_processed(engine, timedelta(seconds=0), clock=clock) == 0, "a consumer has not finished them"
    assert purge_inbox(engine, timedelta(seconds=0), clock=clock) == 4


def test_status_and_metrics_report_depth_age_attempts_and_dead_letters(engine: Engine) -> None:
    registry = HandlerRegistry()
    registry.register("bad", _fails(ValueError("poison")))
    _serve(engine, registry)
    _serve(engine, _noop("waiting"))
    with Session(engine) as s, s.begin():
        enqueue(s, "bad", {}, max_attempts=1)
        enqueue(s, "waiting", {})
    Worker(engine, registry, FAST).drain()
    by_consumer = {t.consumer: t for t in status(engine)}
    assert by_consumer["bad"].dead == 1 and by_consumer["bad"].attempts_total == 1
    assert by_consumer["waiting"].pending == 1 and by_consumer["waiting"].subscribed
    assert by_consumer["waiting"].oldest_pending_age_seconds is not None
    text = prometheus_metrics(engine)
    assert 'outbox_messages{topic="waiting",state="pending"} 1' in text
    assert 'outbox_deliveries{topic="waiting",consumer="waiting",state="pending"} 1' in text
    assert "outbox_dead_letters 1" in text
    assert 'outbox_oldest_pending_age_seconds{topic="waiting",consumer="waiting"}' in text


def test_a_batch_whose_lease_ran_out_is_not_handled_twice_and_the_worker_survives(engine: Engine) -> None:
    registry = HandlerRegistry()
    registry.register("t", lambda s, m: enqueue(s, "effect", {"of": m.message_id}) and None, consumer="c")
    _serve(engine, registry)
    _serve(engine, _noop("effect"))
    with Session(engine) as s, s.begin():
        for n in range(3):
            enqueue(s, "t", {"n": n})
    clock = _clock()
    slow = Worker(engine, registry, OutboxSettings(lease=timedelta(seconds=30)), worker_id="slow", clock=clock)
    batch = slow.claim()
    clock.advance(timedelta(seconds=31))  # the slow worker's lease runs out; another one takes everything
    fast = Worker(engine, registry, FAST, worker_id="fast", topics=["t"], clock=clock)
    assert [o.result for o in fast.drain()] == [DONE] * 3
    # The slow worker reaches its stale batch: nothing happens twice and nothing raises.
    outcomes = [slow.handle(m).result for m in batch]
    assert set(outcomes) <= {"duplicate", "lease_lost"}
    assert sum(r["topic"] == "effect" for r in _messages(engine)) == 3


def test_a_message_whose_worker_dies_on_every_attempt_goes_to_dead_letter(engine: Engine) -> None:
    registry = _serve(engine, _noop("t"))
    with Session(engine) as s, s.begin():
        enqueue(s, "t", {}, max_attempts=2)
    clock = _clock()
    for attempt in (1, 2):
        (claimed,) = Worker(engine, registry, FAST, worker_id=f"doomed-{attempt}", clock=clock).claim()
        assert claimed.attempts == attempt
        clock.advance(FAST.lease)  # the worker is killed: its lease simply runs out
    assert Worker(engine, registry, FAST, clock=clock).claim() == []
    (dead,) = dead_letters(engine)
    assert dead.attempts == 2 and "lease expired" in (dead.last_error or "")


def _noop(topic: str, consumer: str | None = None) -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register(topic, lambda s, m: None, consumer=consumer)
    return registry


# -- several consumers per topic ---------------------------------------------------------------------------------
def test_every_consumer_gets_its_own_delivery_and_a_failing_one_retries_alone(engine: Engine) -> None:
    effects: list[tuple[str, str]] = []
    invoicing_up = threading.Event()

    def invoicing(_s: Session, m: OutboxMessage) -> None:
        if not invoicing_up.is_set():
            raise ConnectionError("invoicing database down")
        effects.append(("invoicing", m.message_id))

    registry = HandlerRegistry()
    registry.register("agreement.ended", lambda s, m: effects.append(("rating", m.message_id)), consumer="rating")
    registry.register("agreement.ended", invoicing, consumer="invoicing")
    registry.register("agreement.ended", lambda s, m: effects.append(("audit", m.message_id)), consumer="audit")
    _serve(engine, registry)
    clock = _clock()
    with Session(engine) as s, s.begin():
        first = enqueue(s, "agreement.ended", {"n": 1}, key="point-1", clock=clock)
        second = enqueue(s, "agreement.ended", {"n": 2}, key="point-2", clock=clock)
    assert len(_messages(engine)) == 2 and len(_deliveries(engine)) == 6, "one message, one delivery per consumer"

    worker = Worker(engine, registry, FAST, clock=clock)
    outcomes = worker.drain()

    assert sorted((o.message.consumer, o.result) for o in outcomes) == [
        ("audit", DONE), ("audit", DONE), ("invoicing", "retry"), ("invoicing", "retry"),
        ("rating", DONE), ("rating", DONE)]
    assert sorted(effects) == sorted([("rating", first), ("rating", second), ("audit", first), ("audit", second)])
    by_consumer = {r.consumer: r for r in status(engine, clock)}
    assert (by_consumer["invoicing"].pending, by_consumer["invoicing"].attempts_total) == (2, 2)
    assert by_consumer["rating"].done == by_consumer["audit"].done == 2

    invoicing_up.set()
    clock.advance(FAST.backoff_base)
    assert sorted(o.result for o in worker.drain()) == [DONE, DONE]
    assert sorted(e for e in effects if e[0] == "invoicing") == sorted([("invoicing", first), ("invoicing", second)])
    with Session(engine) as s:
        inbox = s.execute(select(outbox_inbox.c.consumer, func.count()).group_by(outbox_inbox.c.consumer)).all()
    assert dict(inbox) == {"rating": 2, "invoicing": 2, "audit": 2}  # type: ignore[arg-type]


def test_a_worker_serves_only_the_consumers_it_is_given(engine: Engine) -> None:
    registry = HandlerRegistry()
    registry.register("t", lambda s, m: None, consumer="one")
    registry.register("t", lambda s, m: None, consumer="two")
    _serve(engine, registry)
    with Session(engine) as s, s.begin():
        enqueue(s, "t", {})
    assert [o.message.consumer for o in Worker(engine, registry, FAST, consumers=["two"]).drain()] == ["two"]
    assert [d["state"] for d in _deliveries(engine)] == [PENDING, DONE]


def test_a_topic_without_a_consumer_cannot_be_enqueued(engine: Engine) -> None:
    with pytest.raises(NoConsumerError, match=r"nobody\.listens"), Session(engine) as s, s.begin():
        enqueue(s, "nobody.listens", {})
    assert _messages(engine) == []


def _source_rows(engine: Engine, names: list[str]) -> Table:
    """A table of the writer's own rows, to make messages from in SQL."""
    table = Table("made_rows", MetaData(), Column("id", Integer, primary_key=True), Column("name", String(20)))
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": n, "name": name} for n, name in enumerate(names, 1)])
    return table


def test_messages_made_by_the_database_from_rows_are_delivered_in_order_like_enqueued_ones(engine: Engine) -> None:
    seen: list[tuple[str | None, dict[str, object]]] = []
    registry = HandlerRegistry()
    registry.register("row.made", lambda s, m: seen.append((m.key, m.payload)), consumer="one")
    registry.register("row.made", lambda s, m: None, consumer="two")
    _serve(engine, registry)
    table = _source_rows(engine, ["c", "a", "b", "skipped"])
    build = func.json_build_object if engine.dialect.name == "postgresql" else func.json_object
    rows = select(type_coerce(build("name", table.c.name, "n", table.c.id), JSON).label("payload"),
                  ("row:" + table.c.name).label("key"), (-table.c.id).label("position")).where(table.c.id <= 3)
    with Session(engine) as s, s.begin():
        assert enqueue_select(s, "row.made", rows) == 3
        assert enqueue_select(s, "row.made", rows.where(table.c.id > 100)) == 0  # nothing selected: nothing written
    messages = _messages(engine)
    assert [(m["key"], m["payload"]) for m in messages] == [  # in `position` order
        ("row:b", {"name": "b", "n": 3}), ("row:a", {"name": "a", "n": 2}), ("row:c", {"name": "c", "n": 1})]
    assert all(uuid.UUID(m["message_id"]).version == 4 for m in messages)
    assert len({m["message_id"] for m in messages}) == 3
    assert sorted((d["consumer"], d["key"]) for d in _deliveries(engine)) == sorted(
        (c, k) for c in ("one", "two") for k in ("row:a", "row:b", "row:c"))
    Worker(engine, registry, FAST).drain()
    assert seen == [(m["key"], m["payload"]) for m in messages]


def test_messages_made_by_the_database_need_a_consumer_too(engine: Engine) -> None:
    table = _source_rows(engine, ["x"])
    build = func.json_build_object if engine.dialect.name == "postgresql" else func.json_object
    rows = select(type_coerce(build("n", table.c.id), JSON).label("payload"), table.c.name.label("key"),
                  table.c.id.label("position"))
    with pytest.raises(NoConsumerError, match=r"nobody\.listens"), Session(engine) as s, s.begin():
        enqueue_select(s, "nobody.listens", rows)
    assert _messages(engine) == []


def test_subscriptions_decide_the_deliveries_of_later_messages_and_sync_retires_consumers(engine: Engine) -> None:
    with engine.begin() as conn:
        sync(conn, {"rating": "t"})
    with Session(engine) as s, s.begin():
        enqueue(s, "t", {"n": 1})
    with engine.begin() as conn:
        report = sync(conn, {"rating": "t", "invoicing": "t"})
    assert report.added == ("invoicing",)
    with Session(engine) as s, s.begin():
        enqueue(s, "t", {"n": 2})
    assert [(d["message_id"] == _messages(engine)[0]["message_id"], d["consumer"]) for d in _deliveries(engine)] == [
        (True, "rating"), (False, "invoicing"), (False, "rating")], "a new consumer gets what is enqueued from now on"

    with engine.begin() as conn:
        report = sync(conn, {"invoicing": "t"})
        assert subscribed(conn) == {"invoicing": "t"}
    assert report.removed == ("rating",) and report.discarded == 2
    assert {(d["consumer"], d["state"]) for d in _deliveries(engine)} == {("rating", DISCARDED),
                                                                          ("invoicing", PENDING)}


def test_a_worker_refuses_to_start_for_a_consumer_the_database_does_not_subscribe(engine: Engine) -> None:
    worker = Worker(engine, _noop("t", consumer="forgotten"), FAST)
    with pytest.raises(NotSubscribedError, match="forgotten"):
        worker.run_forever()


# -- order per key -----------------------------------------------------------------------------------------------
def test_messages_of_one_key_are_handled_in_order_one_at_a_time(engine: Engine) -> None:
    registry = _serve(engine, _noop("agreement"))
    with Session(engine) as s, s.begin():
        for n, key in enumerate(["point-1", "point-1", "point-2", "point-1", None, None]):
            enqueue(s, "agreement", {"n": n}, key=key)
    a = Worker(engine, registry, FAST, worker_id="a")
    b = Worker(engine, registry, FAST, worker_id="b")

    first = a.claim()
    assert [m.payload["n"] for m in first] == [0, 2, 4, 5], "only the oldest of a key; no key, no order"
    assert b.claim() == [], "the next of point-1 waits until its predecessor is finished"
    for message in first:
        a.handle(message)
    assert [m.payload["n"] for m in b.claim()] == [1]
    assert a.claim() == []


def test_a_message_in_backoff_holds_its_key_back(engine: Engine) -> None:
    handled: list[int] = []

    def handler(_s: Session, m: OutboxMessage) -> None:
        if m.payload["n"] == 0 and m.attempts == 1:
            raise ConnectionError("not yet")
        handled.append(int(m.payload["n"]))

    registry = HandlerRegistry()
    registry.register("t", handler)
    _serve(engine, registry)
    clock = _clock()
    with Session(engine) as s, s.begin():
        for n in range(3):
            enqueue(s, "t", {"n": n}, key="point-1", clock=clock)
    worker = Worker(engine, registry, FAST, clock=clock)
    assert [o.result for o in worker.drain()] == ["retry"]
    assert handled == [], "1 and 2 are due, but 0 comes first"
    clock.advance(FAST.backoff_base)
    worker.drain()
    assert handled == [0, 1, 2]


def test_a_dead_letter_holds_back_only_its_key_for_its_consumer_until_replayed_or_discarded(engine: Engine) -> None:
    broken_for = {"point-1"}
    handled: list[tuple[str, str | None, int]] = []

    def billing(_s: Session, m: OutboxMessage) -> None:
        if m.key in broken_for and m.payload["n"] == 0:
            raise ValueError("no tariff for this point")
        handled.append(("billing", m.key, int(m.payload["n"])))

    registry = HandlerRegistry()
    registry.register("t", billing, consumer="billing")
    registry.register("t", lambda s, m: handled.append(("audit", m.key, int(m.payload["n"]))), consumer="audit")
    _serve(engine, registry)
    with Session(engine) as s, s.begin():
        for key in ("point-1", "point-2"):
            for n in range(3):
                enqueue(s, "t", {"n": n}, key=key, max_attempts=1)
    worker = Worker(engine, registry, FAST)
    worker.drain()

    assert [(k, n) for c, k, n in handled if c == "billing"] == [("point-2", 0), ("point-2", 1), ("point-2", 2)]
    assert [(k, n) for c, k, n in handled if c == "audit"] == [
        ("point-1", 0), ("point-2", 0), ("point-1", 1), ("point-2", 1), ("point-1", 2), ("point-2", 2)]
    (dead,) = dead_letters(engine)
    assert (dead.consumer, dead.key) == ("billing", "point-1")
    assert [(h.consumer, h.key, h.dead_letter_id, h.held) for h in held_keys(engine)] == [
        ("billing", "point-1", dead.id, 2)]
    billing_status = {r.consumer: r for r in status(engine)}["billing"]
    assert (billing_status.dead, billing_status.held, billing_status.pending) == (1, 2, 2)

    broken_for.clear()
    assert replay(engine, [dead.id]) == 1
    worker.drain()
    assert [(k, n) for c, k, n in handled if c == "billing" and k == "point-1"] == [
        ("point-1", 0), ("point-1", 1), ("point-1", 2)], "replayed first, then the ones it held, in order"
    assert held_keys(engine) == []


def test_discarding_a_dead_letter_releases_its_key(engine: Engine) -> None:
    handled: list[int] = []

    def handler(_s: Session, m: OutboxMessage) -> None:
        if m.payload["n"] == 0:
            raise ValueError("poison")
        handled.append(int(m.payload["n"]))

    registry = HandlerRegistry()
    registry.register("t", handler)
    _serve(engine, registry)
    with Session(engine) as s, s.begin():
        for n in range(3):
            enqueue(s, "t", {"n": n}, key="point-1", max_attempts=1)
    worker = Worker(engine, registry, FAST)
    worker.drain()
    assert handled == []
    (dead,) = dead_letters(engine)
    assert discard(engine, [dead.id + 1000]) == 0, "only dead letters are discarded"
    assert discard(engine, [dead.id]) == 1
    worker.drain()
    assert handled == [1, 2]
    assert {r.consumer: r for r in status(engine)}["t"].discarded == 1 and dead_letters(engine) == []


_order_md = MetaData()
_handled = Table("test_handled_order", _order_md,
                 Column("id", Integer, primary_key=True, autoincrement=True),
                 Column("consumer", String(20), nullable=False), Column("key", String(20), nullable=False),
                 Column("n", Integer, nullable=False))


def test_concurrent_workers_with_failures_keep_each_keys_order_for_each_consumer(engine: Engine) -> None:
    """Four workers on two consumers, 12 keys × 8 messages, a third of the attempts failing at random: every
    consumer handles every key's messages exactly once and in enqueue order."""
    _order_md.create_all(engine)
    rng = random.Random(20261128)
    lock = threading.Lock()

    def handler(consumer: str) -> Callable[[Session, OutboxMessage], None]:
        def handle(s: Session, m: OutboxMessage) -> None:
            with lock:
                fail = rng.random() < 0.33
            s.execute(insert(_handled).values(consumer=consumer, key=m.key, n=m.payload["n"]))
            if fail:
                raise ConnectionError("transient")  # rolls the insert back with it

        return handle

    registry = HandlerRegistry()
    for consumer in ("rating", "invoicing"):
        registry.register("t", handler(consumer), consumer=consumer)
    _serve(engine, registry)
    keys = [f"point-{k}" for k in range(12)]
    with Session(engine) as s, s.begin():  # interleaved keys, as events of many points arrive
        enqueue_many(s, "t", [({"n": n}, key) for n in range(8) for key in keys], max_attempts=1000)
    settings = OutboxSettings(batch_size=5, backoff_base=timedelta(0), jitter=0.0)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            worker = Worker(engine, registry, settings, worker_id=name)
            deadline = time.monotonic() + 240
            while _open(engine) and time.monotonic() < deadline:
                worker.run_once()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and _open(engine) == 0
    with Session(engine) as s:
        rows = s.execute(select(_handled.c.consumer, _handled.c.key, _handled.c.n).order_by(_handled.c.id)).all()
    for consumer in ("rating", "invoicing"):
        for key in keys:
            assert [n for c, k, n in rows if c == consumer and k == key] == list(range(8)), (consumer, key)


def _open(engine: Engine) -> int:
    with Session(engine.execution_options(sqlite_begin="DEFERRED")) as s:
        return int(s.execute(select(func.count()).select_from(outbox_delivery)
                             .where(outbox_delivery.c.state != DONE)).scalar_one())


# -- external calls ----------------------------------------------------------------------------------------------
class FarSide:
    """A service outside the database that dedupes on the message id (as Datahub and payment providers do).
    Calls with a number in `hold` wait until `release` is set."""

    def __init__(self, hold: set[int] | None = None) -> None:
        self.calls: list[tuple[str, int]] = []  # (message id, call number) as they arrived
        self.hold = hold or set()
        self.started = threading.Event()
        self.release = threading.Event()
        self.recorded: list[tuple[str, str]] = []

    def registry(self, max_duration: timedelta = timedelta(seconds=20), *,
                 prepare: Callable[[Session, OutboxMessage], str | None] | None = None) -> HandlerRegistry:
        def call(request: str, message: OutboxMessage) -> str:
            self.calls.append((message.message_id, message.calls))
            if message.calls in self.hold:
                self.started.set()
                assert self.release.wait(WAIT), "the test never released the call"
            if request == "refuse":
                return "refused"
            if request == "break":
                raise ConnectionError("far side unreachable")
            return f"reference-{len(self.calls)}"

        def record(s: Session, message: OutboxMessage, result: str) -> None:
            self.recorded.append((message.message_id, result))

        registry = HandlerRegistry()
        registry.register_external("send", ExternalCall(
            prepare=prepare or (lambda s, m: str(m.payload.get("body", "hello"))), call=call, record=record,
            max_duration=max_duration,
        ), consumer="sender")
        return registry


def _lease_until(engine: Engine) -> Any:
    with Session(engine.execution_options(sqlite_begin="DEFERRED")) as s:
        return s.execute(select(outbox_delivery.c.lease_until)).scalar_one()


def test_a_slow_call_outlasting_the_lease_is_kept_alive_by_the_heartbeat_and_made_once(engine: Engine) -> None:
    far = FarSide(hold={1})
    registry = _serve(engine, far.registry())
    clock = _clock()
    settings = OutboxSettings(lease=timedelta(seconds=30), heartbeat=timedelta(seconds=0.02))
    with Session(engine) as s, s.begin():
        mid = enqueue(s, "send", {}, clock=clock)
    caller = Worker(engine, registry, settings, worker_id="caller", clock=clock)
    other = Worker(engine, registry, settings, worker_id="other", clock=clock)
    outcomes: list[Any] = []
    thread = threading.Thread(target=lambda: outcomes.extend(caller.drain()))
    thread.start()
    assert far.started.wait(WAIT)
    lease_end = clock.now() + settings.lease
    for _ in range(3):  # 60 s past the first lease end, in steps shorter than a lease
        clock.advance(timedelta(seconds=20))
        _wait_for(lambda: _lease_until(engine) >= clock.now() + timedelta(seconds=29), "a heartbeat")
        assert other.claim() == [], "the heartbeat keeps the lease"
    assert clock.now() > lease_end + timedelta(seconds=20)
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(outbox_inbox)).scalar_one() == 0, "nothing recorded yet"
    far.release.set()
    thread.join(WAIT)
    assert [o.result for o in outcomes] == [DONE]
    assert far.calls == [(mid, 1)] and far.recorded == [(mid, "reference-1")]
    (row,) = _deliveries(engine)
    assert (row["state"], row["calls"], row["attempts"]) == (DONE, 1, 1)


def test_the_call_runs_with_no_transaction_open(engine: Engine) -> None:
    """While the call waits, another connection writes: on SQLite that needs the write lock nobody holds."""
    far = FarSide(hold={1})
    registry = _serve(engine, far.registry())
    _serve(engine, _noop("other.work"))
    with Session(engine) as s, s.begin():
        enqueue(s, "send", {})
    thread = threading.Thread(target=Worker(engine, registry, FAST).drain)
    thread.start()
    assert far.started.wait(WAIT)
    with Session(engine) as s, s.begin():  # BEGIN IMMEDIATE on SQLite: it would wait for a held write lock
        enqueue(s, "other.work", {})
    far.release.set()
    thread.join(WAIT)
    assert len(far.recorded) == 1


def test_lease_lost_during_the_call_the_loser_records_nothing(engine: Engine) -> None:
    far = FarSide(hold={1})
    registry = _serve(engine, far.registry())
    clock = _clock()
    # The first caller's heartbeat cannot reach the database in time (a partition): modelled by a heartbeat far
    # slower than this test, so its lease runs out while the call hangs.
    partitioned = OutboxSettings(lease=timedelta(hours=1), heartbeat=timedelta(minutes=59))
    with Session(engine) as s, s.begin():
        mid = enqueue(s, "send", {}, clock=clock)
    loser = Worker(engine, registry, partitioned, worker_id="loser", clock=clock)
    winner = Worker(engine, registry, partitioned, worker_id="winner", clock=clock)
    lost: list[Any] = []
    thread = threading.Thread(target=lambda: lost.extend(loser.drain()))
    thread.start()
    assert far.started.wait(WAIT)

    clock.advance(timedelta(hours=1))
    outcomes = winner.drain()

    assert [(o.result, o.message.attempts, o.message.calls) for o in outcomes] == [(DONE, 2, 2)]
    far.release.set()
    thread.join(WAIT)
    assert [o.result for o in lost] == ["lease_lost"]
    assert far.calls == [(mid, 1), (mid, 2)], "the same message id both times: the far side dedupes it"
    assert far.recorded == [(mid, "reference-2")], "only the owner of the lease recorded a result"
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(outbox_inbox)).scalar_one() == 1


def test_a_call_hanging_past_its_max_duration_stops_renewing_its_lease(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    far = FarSide(hold={1})
    registry = _serve(engine, far.registry(max_duration=timedelta(seconds=0.2)))
    clock = _clock()
    settings = OutboxSettings(lease=timedelta(seconds=30), heartbeat=timedelta(seconds=0.02))
    with Session(engine) as s, s.begin():
        enqueue(s, "send", {}, clock=clock)
    hung: list[Any] = []
    thread = threading.Thread(target=lambda: hung.extend(Worker(engine, registry, settings, clock=clock).drain()))
    with caplog.at_level("ERROR", logger="outbox.worker"):
        thread.start()
        assert far.started.wait(WAIT)
        _wait_for(lambda: "no longer renewed" in caplog.text, "the heartbeat to give up")
    clock.advance(settings.lease)
    taken = Worker(engine, registry, settings, worker_id="successor", clock=clock).drain()
    far.release.set()
    thread.join(WAIT)
    assert [o.result for o in taken] == [DONE] and [o.result for o in hung] == ["lease_lost"]
    assert [n for _, n in far.recorded] == ["reference-2"]


def test_a_failed_call_is_retried_and_the_retry_knows_an_earlier_call_was_made(engine: Engine) -> None:
    far = FarSide()
    registry = _serve(engine, far.registry())
    clock = _clock()
    with Session(engine) as s, s.begin():
        enqueue(s, "send", {"body": "break"}, clock=clock)
        enqueue(s, "send", {"body": "refuse"}, clock=clock)
    worker = Worker(engine, registry, FAST, clock=clock)
    assert sorted(o.result for o in worker.drain()) == [DONE, "retry"]
    assert [r for _, r in far.recorded] == ["refused"], "an answer that is a decision is recorded, not retried"
    clock.advance(FAST.backoff_base)
    assert [o.result for o in worker.drain()] == ["retry"]
    assert [n for _, n in far.calls] == [1, 1, 2]
    row = next(d for d in _deliveries(engine) if d["state"] == PENDING)
    assert (row["attempts"], row["calls"]) == (2, 2) and "far side unreachable" in row["last_error"]


def test_nothing_to_call_finishes_the_delivery_without_a_call(engine: Engine) -> None:
    far = FarSide()
    registry = _serve(engine, far.registry(prepare=lambda s, m: None))
    with Session(engine) as s, s.begin():
        enqueue(s, "send", {})
    assert [o.result for o in Worker(engine, registry, FAST).drain()] == [DONE]
    assert far.calls == [] and far.recorded == []


def test_a_worker_refuses_to_start_when_a_call_can_outlast_the_lease(engine: Engine) -> None:
    lease = OutboxSettings(lease=timedelta(seconds=60))
    with pytest.raises(ValueError, match="outlast the 0:01:00 lease"):
        Worker(engine, FarSide().registry(max_duration=timedelta(seconds=60)), lease)
    Worker(engine, FarSide().registry(max_duration=timedelta(seconds=59)), lease)
    with pytest.raises(ValueError, match="heartbeat"):
        Worker(engine, FarSide().registry(), OutboxSettings(lease=timedelta(seconds=60),
                                                            heartbeat=timedelta(seconds=60)))
    # A worker that does not serve the slow consumer is not concerned.
    Worker(engine, FarSide().registry(max_duration=timedelta(hours=1)), lease, consumers=["someone-else"])


# -- the database's clock ----------------------------------------------------------------------------------------
def test_leases_follow_the_database_clock_not_a_skewed_host_clock(engine: Engine,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite has no server: its clock is the host's")
    registry = _serve(engine, _noop("t"))
    with Session(engine) as s, s.begin():
        enqueue(s, "t", {})
    with engine.connect() as conn:
        server_now = DatabaseClock().now(conn)
    import outbox.clock
    import outbox.types

    skewed = lambda: utcnow() + timedelta(hours=3)  # noqa: E731 - this host's clock runs three hours fast
    monkeypatch.setattr(outbox.clock, "utcnow", skewed)
    monkeypatch.setattr(outbox.types, "utcnow", skewed)
    (claimed,) = Worker(engine, registry, FAST, clock=DatabaseClock()).claim()
    assert claimed.lease_until is not None
    assert abs(claimed.lease_until - (server_now + FAST.lease)) < timedelta(minutes=5)
    with Session(engine) as s, s.begin():  # due times too: enqueued "now" is due now, not in three hours' time
        enqueue(s, "t", {})
    fresh = [d for d in _deliveries(engine) if d["state"] == PENDING]
    assert abs(fresh[0]["next_attempt_at"] - server_now) < timedelta(minutes=5)
