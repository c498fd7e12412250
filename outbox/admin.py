"""Operating the outbox: status, metrics, replay of dead letters and retention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from outbox.core import DEAD, DONE, PENDING, PROCESSING
from outbox.schema import outbox_archive, outbox_inbox, outbox_message
from outbox.types import UTCDateTime, utcnow


@dataclass(frozen=True)
class TopicStatus:
    topic: str
    pending: int
    processing: int
    done: int
    dead: int
    oldest_pending_age_seconds: float | None
    attempts_total: int


@dataclass(frozen=True)
class DeadLetter:
    id: int
    message_id: str
    topic: str
    attempts: int
    last_error: str | None
    created_at: datetime


def status(engine: Engine) -> list[TopicStatus]:
    c = outbox_message.c
    now = utcnow()
    with Session(engine) as session:
        counts = session.execute(
            select(c.topic, c.state, func.count(), func.coalesce(func.sum(c.attempts), 0)).group_by(
                c.topic, c.state
            )
        ).all()
        oldest = dict(
            session.execute(
                select(c.topic, func.min(c.created_at))
                .where(c.state.in_([PENDING, PROCESSING]))
                .group_by(c.topic)
            ).all()
        )
    by_topic: dict[str, dict[str, int]] = {}
    attempts: dict[str, int] = {}
    for topic, state, count, tries in counts:
        by_topic.setdefault(topic, {})[state] = int(count)
        attempts[topic] = attempts.get(topic, 0) + int(tries)
    result = []
    for topic in sorted(by_topic):
        states = by_topic[topic]
        first = oldest.get(topic)
        if isinstance(first, str):  # aggregate results bypass the column type on SQLite
            first = datetime.fromisoformat(first)
        if first is not None and first.tzinfo is None:
            first = first.replace(tzinfo=UTC)
        result.append(
            TopicStatus(
                topic=topic,
                pending=states.get(PENDING, 0),
                processing=states.get(PROCESSING, 0),
                done=states.get(DONE, 0),
                dead=states.get(DEAD, 0),
                oldest_pending_age_seconds=(now - first).total_seconds() if first else None,
                attempts_total=attempts.get(topic, 0),
            )
        )
    return result


def dead_letters(engine: Engine, limit: int = 100) -> list[DeadLetter]:
    c = outbox_message.c
    with Session(engine) as session:
        rows = session.execute(
            select(c.id, c.message_id, c.topic, c.attempts, c.last_error, c.created_at)
            .where(c.state == DEAD)
            .order_by(c.id)
            .limit(limit)
        ).all()
    return [DeadLetter(*row) for row in rows]


def replay(engine: Engine, ids: list[int] | None = None) -> int:
    """Give dead letters a fresh set of attempts. `ids=None` replays every dead letter."""
    c = outbox_message.c
    stmt = update(outbox_message).where(c.state == DEAD)
    if ids is not None:
        stmt = stmt.where(c.id.in_(ids))
    with Session(engine) as session, session.begin():
        result = session.execute(stmt.values(state=PENDING, attempts=0, next_attempt_at=utcnow()))
    return int(result.rowcount)  # type: ignore[attr-defined]


def purge_processed(engine: Engine, older_than: timedelta, *, archive: bool = False) -> int:
    """Remove done rows processed before now − older_than, copying them to the archive first if asked."""
    c = outbox_message.c
    cutoff = utcnow() - older_than
    old = (c.state == DONE) & (c.processed_at < cutoff)
    with Session(engine) as session, session.begin():
        if archive:
            session.execute(
                insert(outbox_archive).from_select(
                    [
                        "id", "message_id", "topic", "key", "payload", "state", "attempts", "created_at",
                        "processed_at", "archived_at",
                    ],
                    select(
                        c.id, c.message_id, c.topic, c.key, c.payload, c.state, c.attempts, c.created_at,
                        c.processed_at, literal(utcnow(), UTCDateTime()),
                    ).where(old),
                )
            )
        result = session.execute(delete(outbox_message).where(old))
    return int(result.rowcount)  # type: ignore[attr-defined]


def purge_inbox(engine: Engine, older_than: timedelta) -> int:
    """Forget inbox entries older than any redelivery can be; keep this well above the outbox retention."""
    cutoff = utcnow() - older_than
    with Session(engine) as session, session.begin():
        result = session.execute(delete(outbox_inbox).where(outbox_inbox.c.processed_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]


def prometheus_metrics(engine: Engine, prefix: str = "outbox") -> str:
    """The outbox gauges in the Prometheus text exposition format."""
    rows = status(engine)
    lines = [
        f"# HELP {prefix}_messages Outbox messages by topic and state.",
        f"# TYPE {prefix}_messages gauge",
    ]
    for row in rows:
        for state in (PENDING, PROCESSING, DONE, DEAD):
            lines.append(f'{prefix}_messages{{topic="{row.topic}",state="{state}"}} {getattr(row, state)}')
    lines += [
        f"# HELP {prefix}_oldest_pending_age_seconds Age of the oldest message not yet done.",
        f"# TYPE {prefix}_oldest_pending_age_seconds gauge",
    ]
    for row in rows:
        age = row.oldest_pending_age_seconds or 0.0
        lines.append(f'{prefix}_oldest_pending_age_seconds{{topic="{row.topic}"}} {age:.3f}')
    lines += [
        f"# HELP {prefix}_attempts Delivery attempts recorded on messages still in the table.",
        f"# TYPE {prefix}_attempts gauge",
    ]
    lines += [f'{prefix}_attempts{{topic="{r.topic}"}} {r.attempts_total}' for r in rows]
    lines += [
        f"# HELP {prefix}_dead_letters Messages that exhausted their attempts.",
        f"# TYPE {prefix}_dead_letters gauge",
        f"{prefix}_dead_letters {sum(r.dead for r in rows)}",
    ]
    return "\n".join(lines) + "\n"
