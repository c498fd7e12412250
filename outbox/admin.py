"""Operating the outbox: status per consumer, held-back keys, dead letters, replay, discard and retention.

The command-line front ends (`gateway outbox …`, or any application's) only parse arguments and print what
:func:`status_report` and :func:`format_status` give.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, literal, literal_column, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from outbox.clock import DATABASE_CLOCK, Clock
from outbox.core import DEAD, DISCARDED, DONE, PENDING, PROCESSING
from outbox.schema import outbox_archive, outbox_delivery, outbox_inbox, outbox_message, outbox_subscription
from outbox.types import UTCDateTime

_d, _m = outbox_delivery.c, outbox_message.c
_CHUNK = 500


@dataclass(frozen=True)
class ConsumerStatus:
    """Deliveries of one consumer by state. `held` counts those waiting behind a dead letter of their key."""

    topic: str
    consumer: str
    subscribed: bool
    pending: int
    processing: int
    done: int
    dead: int
    discarded: int
    held: int
    oldest_pending_age_seconds: float | None
    attempts_total: int


TopicStatus = ConsumerStatus  # the name before topics had several consumers


@dataclass(frozen=True)
class HeldKey:
    """A key a dead letter holds back for one consumer, until the dead letter is replayed or discarded."""

    consumer: str
    topic: str
    key: str
    dead_letter_id: int
    held: int


@dataclass(frozen=True)
class DeadLetter:
    id: int  # the delivery's id: what replay and discard take
    message_id: str
    topic: str
    consumer: str
    key: str | None
    attempts: int
    last_error: str | None
    created_at: datetime


def _aware(value: Any) -> datetime | None:
    if isinstance(value, str):  # aggregate results bypass the column type on SQLite
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value if isinstance(value, datetime) else None


def _now(session: Session, clock: Clock | None) -> datetime:
    return (clock or DATABASE_CLOCK).now(session.connection())


def _held_by_dead_letter() -> Any:
    dead = outbox_delivery.alias("dead")
    return exists().where(dead.c.consumer == _d.consumer, dead.c.key == _d.key,
                          dead.c.message_pk < _d.message_pk, dead.c.state == DEAD).correlate(outbox_delivery)


def status(engine: Engine, clock: Clock | None = None) -> list[ConsumerStatus]:
    """One row per consumer that is subscribed or has deliveries, sorted by topic and consumer."""
    reader = engine.execution_options(sqlite_begin="DEFERRED")  # observing takes no write lock from workers
    with Session(reader) as session:
        now = _now(session, clock)
        counts = session.execute(
            select(_m.topic, _d.consumer, _d.state, func.count(), func.coalesce(func.sum(_d.attempts), 0))
            .select_from(outbox_delivery.join(outbox_message, _m.id == _d.message_pk))
            .group_by(_m.topic, _d.consumer, _d.state)
        ).all()
        oldest: dict[str, Any] = dict(session.execute(  # type: ignore[arg-type]
            select(_d.consumer, func.min(_m.created_at))
            .select_from(outbox_delivery.join(outbox_message, _m.id == _d.message_pk))
            .where(_d.state.in_([literal_column(f"'{s}'") for s in (PENDING, PROCESSING)]))
            .group_by(_d.consumer)
        ).all())
        held: dict[str, int] = dict(session.execute(  # type: ignore[arg-type]
            select(_d.consumer, func.count())
            .where(_d.state.in_([literal_column(f"'{s}'") for s in (PENDING, PROCESSING)]), _held_by_dead_letter())
            .group_by(_d.consumer)
        ).all())
        subscribed: dict[str, str] = dict(session.execute(  # type: ignore[arg-type]
            select(outbox_subscription.c.consumer, outbox_subscription.c.topic)).all())
    by_consumer: dict[tuple[str, str], dict[str, int]] = {(topic, c): {} for c, topic in subscribed.items()}
    attempts: dict[tuple[str, str], int] = {}
    for topic, consumer, state, count, tries in counts:
        by_consumer.setdefault((topic, consumer), {})[state] = int(count)
        attempts[(topic, consumer)] = attempts.get((topic, consumer), 0) + int(tries)
    result = []
    for topic, consumer in sorted(by_consumer):
        states = by_consumer[(topic, consumer)]
        first = _aware(oldest.get(consumer))
        result.append(ConsumerStatus(
            topic=topic, consumer=consumer, subscribed=subscribed.get(consumer) == topic,
            pending=states.get(PENDING, 0), processing=states.get(PROCESSING, 0), done=states.get(DONE, 0),
            dead=states.get(DEAD, 0), discarded=states.get(DISCARDED, 0), held=int(held.get(consumer, 0)),
            oldest_pending_age_seconds=max((now - first).total_seconds(), 0.0) if first else None,
            attempts_total=attempts.get((topic, consumer), 0),
        ))
    return result


def held_keys(engine: Engine, limit: int = 100) -> list[HeldKey]:
    """Keys held back by a dead letter, per consumer, with how many deliveries wait behind each."""
    later = outbox_delivery.alias("later")
    with Session(engine.execution_options(sqlite_begin="DEFERRED")) as session:
        rows = session.execute(
            select(_d.consumer, _m.topic, _d.key, _d.id, func.count(later.c.id))
            .select_from(
                outbox_delivery.join(outbox_message, _m.id == _d.message_pk).outerjoin(later, and_(
                    later.c.consumer == _d.consumer, later.c.key == _d.key, later.c.message_pk > _d.message_pk,
                    later.c.state.in_([literal_column(f"'{s}'") for s in (PENDING, PROCESSING)]))))
            .where(_d.state == DEAD, _d.key.is_not(None))
            .group_by(_d.consumer, _m.topic, _d.key, _d.id)
            .order_by(_d.id)
            .limit(limit)
        ).all()
    # Only the first dead letter of a key holds it; later dead ones of the same key are listed as held there.
    first: dict[tuple[str, str], HeldKey] = {}
    for consumer, topic, key, row_id, count in rows:
        first.setdefault((consumer, key), HeldKey(consumer, topic, key, int(row_id), int(count)))
    return list(first.values())


def dead_letters(engine: Engine, limit: int = 100) -> list[DeadLetter]:
    with Session(engine.execution_options(sqlite_begin="DEFERRED")) as session:
        rows = session.execute(
            select(_d.id, _m.message_id, _m.topic, _d.consumer, _d.key, _d.attempts, _d.last_error, _m.created_at)
            .select_from(outbox_delivery.join(outbox_message, _m.id == _d.message_pk))
            .where(_d.state == DEAD)
            .order_by(_d.id)
            .limit(limit)
        ).all()
    return [DeadLetter(*row) for row in rows]


def replay(engine: Engine, ids: Sequence[int] | None = None, clock: Clock | None = None) -> int:
    """Give dead letters (delivery ids; `None`: every one) a fresh set of attempts, due now."""
    with Session(engine) as session, session.begin():
        return replay_in(session, ids, clock)


def replay_in(session: Session, ids: Sequence[int] | None = None, clock: Clock | None = None) -> int:
    """:func:`replay` in the caller's transaction (e.g. with an audit row that must commit with it)."""
    stmt = update(outbox_delivery).where(_d.state == DEAD)
    if ids is not None:
        stmt = stmt.where(_d.id.in_(list(ids)))
    result = session.execute(stmt.values(state=PENDING, attempts=0, next_attempt_at=_now(session, clock)))
    return int(result.rowcount)  # type: ignore[attr-defined]


def discard(engine: Engine, ids: Sequence[int], clock: Clock | None = None) -> int:
    """Give up dead letters (delivery ids): their consumer never handles them, and the keys they held back
    move on. The message, its error and its other consumers' deliveries stay as they are."""
    with Session(engine) as session, session.begin():
        return discard_in(session, ids, clock)


def discard_in(session: Session, ids: Sequence[int], clock: Clock | None = None) -> int:
    """:func:`discard` in the caller's transaction."""
    result = session.execute(
        update(outbox_delivery).where(_d.state == DEAD, _d.id.in_(list(ids)))
        .values(state=DISCARDED, processed_at=_now(session, clock))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def purge_processed(engine: Engine, older_than: timedelta, *, archive: bool = False,
                    clock: Clock | None = None) -> int:
    """Remove messages every consumer finished (done or discarded) before now − older_than, with their
    deliveries, copying each message to the archive first if asked. Returns the number of messages removed."""
    with Session(engine) as session, session.begin():
        cutoff = _now(session, clock) - older_than
        unfinished = exists().where(
            _d.message_pk == _m.id,
            (_d.state.not_in([DONE, DISCARDED])) | _d.processed_at.is_(None) | (_d.processed_at >= cutoff),
        )
        old = list(session.execute(select(_m.id).where(_m.created_at < cutoff, ~unfinished)).scalars())
        archived_at = _now(session, clock)
        for start in range(0, len(old), _CHUNK):
            chunk = old[start:start + _CHUNK]
            if archive:
                attempts = (select(func.coalesce(func.sum(_d.attempts), 0)).where(_d.message_pk == _m.id)
                            .correlate(outbox_message).scalar_subquery())
                finished = (select(func.max(_d.processed_at)).where(_d.message_pk == _m.id)
                            .correlate(outbox_message).scalar_subquery())
                session.execute(insert(outbox_archive).from_select(
                    ["id", "message_id", "topic", "key", "payload", "state", "attempts", "created_at",
                     "processed_at", "archived_at"],
                    select(_m.id, _m.message_id, _m.topic, _m.key, _m.payload, literal(DONE), attempts,
                           _m.created_at, finished, literal(archived_at, UTCDateTime()))
                    .where(_m.id.in_(chunk)),
                ))
            session.execute(delete(outbox_delivery).where(_d.message_pk.in_(chunk)))
            session.execute(delete(outbox_message).where(_m.id.in_(chunk)))
    return len(old)


def purge_inbox(engine: Engine, older_than: timedelta, clock: Clock | None = None) -> int:
    """Forget inbox entries older than any redelivery can be; keep this well above the outbox retention."""
    with Session(engine) as session, session.begin():
        cutoff = _now(session, clock) - older_than
        result = session.execute(delete(outbox_inbox).where(outbox_inbox.c.processed_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]


# -- reports ---------------------------------------------------------------------------------------------------
def status_report(engine: Engine, limit: int = 20, clock: Clock | None = None) -> dict[str, Any]:
    """Everything `outbox status` shows, as JSON-ready data: consumers, held-back keys, dead letters."""
    return {
        "consumers": [asdict(row) for row in status(engine, clock)],
        "held_keys": [asdict(row) for row in held_keys(engine, limit)],
        "dead_letters": [{**asdict(d), "created_at": d.created_at.isoformat()} for d in dead_letters(engine, limit)],
    }


def format_status(report: dict[str, Any]) -> str:
    lines = [f"{'topic':<28} {'consumer':<30} {'pending':>8} {'processing':>10} {'done':>8} {'dead':>5} "
             f"{'held':>5} {'oldest age s':>12}"]
    for r in report["consumers"]:
        age = r["oldest_pending_age_seconds"]
        name = r["consumer"] + ("" if r["subscribed"] else " (not subscribed)")
        lines.append(f"{r['topic']:<28} {name:<30} {r['pending']:>8} {r['processing']:>10} {r['done']:>8} "
                     f"{r['dead']:>5} {r['held']:>5} {'-' if age is None else f'{age:.1f}':>12}")
    for h in report["held_keys"]:
        lines.append(f"held back: {h['consumer']} key {h['key']!r}: {h['held']} delivery(ies) wait behind dead "
                     f"letter {h['dead_letter_id']} (replay or discard it)")
    for d in report["dead_letters"]:
        last = (d["last_error"] or "").strip().splitlines()[-1:] or [""]
        lines.append(f"dead letter {d['id']} ({d['topic']} → {d['consumer']}, key {d['key']!r}, "
                     f"{d['attempts']} attempts): {last[0]}")
    return "\n".join(lines)


def prometheus_metrics(engine: Engine, prefix: str = "outbox") -> str:
    """The outbox gauges in the Prometheus text exposition format."""
    rows = status(engine)
    by_topic: dict[str, dict[str, int]] = {}
    for row in rows:
        totals = by_topic.setdefault(row.topic, {})
        for state in (PENDING, PROCESSING, DONE, DEAD):
            totals[state] = totals.get(state, 0) + getattr(row, state)
    lines = [
        f"# HELP {prefix}_messages Outbox deliveries by topic and state, summed over the topic's consumers.",
        f"# TYPE {prefix}_messages gauge",
    ]
    for topic, totals in sorted(by_topic.items()):
        lines += [f'{prefix}_messages{{topic="{topic}",state="{state}"}} {count}' for state, count in totals.items()]
    lines += [
        f"# HELP {prefix}_deliveries Outbox deliveries by topic, consumer and state.",
        f"# TYPE {prefix}_deliveries gauge",
    ]
    for row in rows:
        for state in (PENDING, PROCESSING, DONE, DEAD, DISCARDED):
            lines.append(f'{prefix}_deliveries{{topic="{row.topic}",consumer="{row.consumer}",state="{state}"}} '
                         f"{getattr(row, state)}")
    lines += [
        f"# HELP {prefix}_oldest_pending_age_seconds Age of the oldest delivery not yet done, per consumer.",
        f"# TYPE {prefix}_oldest_pending_age_seconds gauge",
    ]
    for row in rows:
        age = row.oldest_pending_age_seconds or 0.0
        lines.append(f'{prefix}_oldest_pending_age_seconds{{topic="{row.topic}",consumer="{row.consumer}"}} {age:.3f}')
    lines += [
        f"# HELP {prefix}_held_back Deliveries waiting behind a dead letter of their key.",
        f"# TYPE {prefix}_held_back gauge",
    ]
    lines += [f'{prefix}_held_back{{topic="{r.topic}",consumer="{r.consumer}"}} {r.held}' for r in rows]
    lines += [
        f"# HELP {prefix}_attempts Delivery attempts recorded on deliveries still in the table.",
        f"# TYPE {prefix}_attempts gauge",
    ]
    lines += [f'{prefix}_attempts{{topic="{r.topic}",consumer="{r.consumer}"}} {r.attempts_total}' for r in rows]
    lines += [
        f"# HELP {prefix}_dead_letters Deliveries that exhausted their attempts.",
        f"# TYPE {prefix}_dead_letters gauge",
        f"{prefix}_dead_letters {sum(r.dead for r in rows)}",
    ]
    return "\n".join(lines) + "\n"
