"""The outbox's promises, checked identically on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from outbox import DEAD, DONE, PENDING, HandlerRegistry, OutboxMessage, OutboxSettings, enqueue
from outbox.admin import dead_letters, prometheus_metrics, purge_inbox, purge_processed, replay, status
from outbox.schema import outbox_archive, outbox_inbox, outbox_message
from outbox.types import utcnow
from outbox.worker import Worker

FAST = OutboxSettings(
    lease=timedelta(seconds=30), max_attempts=3, backoff_base=timedelta(seconds=10), jitter=0.0
)


def _rows(engine: Engine) -> list[dict[str, object]]:
    with Session(engine) as s:
        return [dict(r._mapping) for r in s.execute(select(outbox_message).order_by(outbox_message.c.id))]


def _make_due(engine: Engine) -> None:
    """Move every scheduled retry to now, as if the backoff had elapsed."""
    with Session(engine) as s, s.begin():
        s.execute(update(outbox_message).where(outbox_message.c.state == PENDING).values(next_attempt_at=utcnow()))


def test_enqueued_message_is_handled_once_and_marked_done(engine: Engine) -> None:
    seen: list[dict[str, object]] = []
    registry = HandlerRegistry()
    registry.register("greeting", lambda s, m: seen.append(m.payload))
    with Session(engine) as s, s.begin():
        mid = enqueue(s, "greeting", {"hello": "world"}, key="k1")

    outcomes = Worker(engine, registry, FAST).drain()

    assert [o.result for o in outcomes] == [DONE]
    assert seen == [{"hello": "world"}]
    (row,) = _rows(engine)
    assert row["message_id"] == mid and row["state"] == DONE and row["key"] == "k1"
    assert row["lease_owner"] is None and row["processed_at"] is not None


def test_rolled_back_transaction_leaves_no_outbox_row(engine: Engine) -> None:
    with pytest.raises(RuntimeError), Session(engine) as s, s.begin():
        enqueue(s, "greeting", {"n": 1})
        raise RuntimeError("the business change failed")
    assert _rows(engine) == []


def test_failing_handler_is_retried_on_schedule_then_dead_lettered_and_replay_delivers(engine: Engine) -> None:
    calls: list[int] = []
    healthy = threading.Event()

    def flaky(_s: Session, m: OutboxMessage) -> None:
        calls.append(m.attempts)
        if not healthy.is_set():
            raise ConnectionError("partner endpoint down")

    registry = HandlerRegistry()
    registry.register("send", flaky)
    with Session(engine) as s, s.begin():
        enqueue(s, "send", {"n": 1}, settings=FAST)
    worker = Worker(engine, registry, FAST)

    before = utcnow()
    assert [o.result for o in worker.drain()] == ["retry"]
    (row,) = _rows(engine)
    assert row["state"] == PENDING and row["attempts"] == 1
    assert "partner endpoint down" in str(row["last_error"])
    # The first retry waits backoff_base; the schedule is in the row, so a restart would keep it.
    assert row["next_attempt_at"] >= before + timedelta(seconds=10)  # type: ignore[operator]
    assert worker.drain() == [], "nothing is due before the scheduled time"

    _make_due(engine)
    assert [o.result for o in worker.drain()] == ["retry"]
    second = _rows(engine)[0]
    assert second["next_attempt_at"] >= utcnow() + timedelta(seconds=19)  # type: ignore[operator]
    _make_due(engine)
    assert [o.result for o in worker.drain()] == [DEAD]
    (row,) = _rows(engine)
    assert row["state"] == DEAD and row["attempts"] == 3
    assert [d.topic for d in dead_letters(engine)] == ["send"]
    assert worker.drain() == [], "a dead letter is never picked up by itself"

    healthy.set()
    assert replay(engine) == 1
    assert [o.result for o in worker.drain()] == [DONE]
    assert calls == [1, 2, 3, 1]
    assert _rows(engine)[0]["state"] == DONE


def test_poison_message_does_not_block_the_others(engine: Engine) -> None:
    handled: list[int] = []

    def handler(_s: Session, m: OutboxMessage) -> None:
        if m.payload["n"] == 0:
            raise ValueError("cannot map this message")
        handled.append(int(m.payload["n"]))  # type: ignore[call-overload]

    registry = HandlerRegistry()
    registry.register("t", handler)
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
    with Session(engine) as s, s.begin():
        mid = enqueue(s, "t", {})
    worker = Worker(engine, registry, FAST)
    worker.drain()
    # At-least-once delivery: the same message arrives again (e.g. re-enqueued by a replayed upstream).
    with Session(engine) as s, s.begin():
        s.execute(update(outbox_message).values(state=PENDING, next_attempt_at=utcnow()))
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
    with Session(engine) as s, s.begin():
        enqueue(s, "t", {})
    Worker(engine, registry, FAST).drain()
    rows = _rows(engine)
    assert [r["topic"] for r in rows] == ["t"], "the handler's own outbox write rolled back with it"
    with Session(engine) as s:
        assert s.execute(select(outbox_inbox)).all() == []


def test_stale_lease_is_reclaimed_and_the_old_owner_cannot_finish(engine: Engine) -> None:
    registry = HandlerRegistry()
    # The effect is a database write, so it commits or rolls back with the handler's transaction.
    registry.register("t", lambda s, m: enqueue(s, "effect", {"of": m.message_id}) and None)
    with Session(engine) as s, s.begin():
        enqueue(s, "t", {})
    short = OutboxSettings(lease=timedelta(seconds=30), jitter=0.0)
    crashed = Worker(engine, registry, short, worker_id="crashed")
    (claimed,) = crashed.claim()
    rescuer = Worker(engine, registry, short, worker_id="rescuer")
    assert rescuer.claim() == [], "a live lease is respected"

    with Session(engine) as s, s.begin():  # the lease runs out
        expired = utcnow() - timedelta(seconds=1)
        s.execute(update(outbox_message).values(lease_until=expired, next_attempt_at=expired))
    (reclaimed,) = rescuer.claim()
    assert reclaimed.id == claimed.id and reclaimed.attempts == 2
    assert crashed.handle(claimed).result == "lease_lost"
    assert rescuer.handle(reclaimed).result == DONE
    assert [r["topic"] for r in _rows(engine)] == ["t", "effect"], "the effect happened exactly once"


def test_two_workers_never_claim_the_same_row(engine: Engine) -> None:
    registry = HandlerRegistry()
    registry.register("t", lambda s, m: None)
    with Session(engine) as s, s.begin():
        for n in range(200):
            enqueue(s, "t", {"n": n})
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


def test_retention_archives_or_deletes_only_old_processed_rows(engine: Engine) -> None:
    registry = HandlerRegistry()
    registry.register("t", lambda s, m: None)
    with Session(engine) as s, s.begin():
        for n in range(4):
            enqueue(s, "t", {"n": n})
    Worker(engine, registry, FAST).drain()
    ids = [r["id"] for r in _rows(engine)]
    with Session(engine) as s, s.begin():
        enqueue(s, "t", {"n": "still pending"})
        s.execute(
            update(outbox_message)
            .where(outbox_message.c.id.in_(ids[:2]))
            .values(processed_at=utcnow() - timedelta(days=30))
        )
    assert purge_processed(engine, timedelta(days=14), archive=True) == 2
    with Session(engine) as s:
        archived = s.execute(select(outbox_archive.c.id)).scalars().all()
    assert sorted(archived) == sorted(ids[:2])
    assert len(_rows(engine)) == 3
    assert purge_processed(engine, timedelta(seconds=0)) == 2
    assert [r["state"] for r in _rows(engine)] == [PENDING]
    assert purge_inbox(engine, timedelta(seconds=0)) == 4


def test_status_and_metrics_report_depth_age_attempts_and_dead_letters(engine: Engine) -> None:
    registry = HandlerRegistry()
    registry.register("bad", lambda s, m: (_ for _ in ()).throw(ValueError("poison")))
    with Session(engine) as s, s.begin():
        enqueue(s, "bad", {}, max_attempts=1)
        enqueue(s, "waiting", {})
    Worker(engine, registry, FAST, topics=["bad"]).drain()
    by_topic = {t.topic: t for t in status(engine)}
    assert by_topic["bad"].dead == 1 and by_topic["bad"].attempts_total == 1
    assert by_topic["waiting"].pending == 1
    assert by_topic["waiting"].oldest_pending_age_seconds is not None
    text = prometheus_metrics(engine)
    assert 'outbox_messages{topic="waiting",state="pending"} 1' in text
    assert "outbox_dead_letters 1" in text
    assert 'outbox_oldest_pending_age_seconds{topic="waiting"}' in text


def test_a_batch_whose_lease_ran_out_is_not_handled_twice_and_the_worker_survives(engine: Engine) -> None:
    registry = HandlerRegistry()
    registry.register("t", lambda s, m: enqueue(s, "effect", {"of": m.message_id}) and None, consumer="c")
    with Session(engine) as s, s.begin():
        for n in range(3):
            enqueue(s, "t", {"n": n})
    slow = Worker(engine, registry, OutboxSettings(lease=timedelta(seconds=30)), worker_id="slow")
    batch = slow.claim()
    # The slow worker's lease runs out; another worker takes and finishes everything meanwhile.
    with Session(engine) as s, s.begin():
        expired = utcnow() - timedelta(seconds=1)
        s.execute(update(outbox_message).where(outbox_message.c.topic == "t")
                  .values(lease_until=expired, next_attempt_at=expired))
    assert [o.result for o in Worker(engine, registry, FAST, worker_id="fast", topics=["t"]).drain()] == [DONE] * 3
    # The slow worker reaches its stale batch: nothing happens twice and nothing raises.
    outcomes = [slow.handle(m).result for m in batch]
    assert set(outcomes) <= {"duplicate", "lease_lost"}
    assert sum(r["topic"] == "effect" for r in _rows(engine)) == 3


def test_a_message_whose_worker_dies_on_every_attempt_goes_to_dead_letter(engine: Engine) -> None:
    registry = HandlerRegistry()
    registry.register("t", lambda s, m: None)
    with Session(engine) as s, s.begin():
        enqueue(s, "t", {}, max_attempts=2)
    for attempt in (1, 2):
        (claimed,) = Worker(engine, registry, FAST, worker_id=f"doomed-{attempt}").claim()
        assert claimed.attempts == attempt
        with Session(engine) as s, s.begin():  # the worker is killed: its lease simply runs out
            expired = utcnow() - timedelta(seconds=1)
            s.execute(update(outbox_message).values(lease_until=expired, next_attempt_at=expired))
    assert Worker(engine, registry, FAST).claim() == []
    (dead,) = dead_letters(engine)
    assert dead.attempts == 2 and "lease expired" in (dead.last_error or "")
