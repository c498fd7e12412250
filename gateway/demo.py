"""`gateway demo`: the end-to-end run a new user sees first, on the embedded SQLite database."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from gateway.config import Settings
from gateway.store.db import make_engine
from gateway.store.migrate import current_revision, upgrade
from outbox import HandlerRegistry, OutboxMessage, OutboxSettings, enqueue
from outbox.admin import dead_letters, replay, status
from outbox.worker import Worker


def _fresh_sqlite(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            Path(parsed.database + suffix).unlink(missing_ok=True)


def outbox_walkthrough(engine: Engine) -> list[str]:
    """Retries, a dead letter and its replay, and a rollback that leaves nothing behind."""
    lines: list[str] = []
    attempts: dict[str, int] = {}
    repaired = False

    def deliver(_session: Session, message: OutboxMessage) -> None:
        attempts[message.message_id] = attempts.get(message.message_id, 0) + 1
        if message.payload.get("flaky") and attempts[message.message_id] == 1:
            raise ConnectionError("simulated transient failure")
        if message.payload.get("poison") and not repaired:
            raise ValueError("simulated poison message")

    registry = HandlerRegistry()
    registry.register("demo.delivery", deliver)
    settings = OutboxSettings(max_attempts=2, backoff_base=timedelta(0), jitter=0.0)
    with Session(engine) as session, session.begin():
        for n in range(3):
            enqueue(session, "demo.delivery", {"n": n}, settings=settings)
        enqueue(session, "demo.delivery", {"flaky": True}, settings=settings)
        enqueue(session, "demo.delivery", {"poison": True}, settings=settings)
    try:
        with Session(engine) as session, session.begin():
            enqueue(session, "demo.delivery", {"never": "committed"})
            raise RuntimeError("rolled back")
    except RuntimeError:
        lines.append("outbox: a rolled-back transaction left no message behind")
    worker = Worker(engine, registry, settings)
    outcomes = worker.drain()
    summary = ", ".join(f"{r}={sum(o.result == r for o in outcomes)}" for r in ("done", "retry", "dead"))
    lines.append(f"outbox: 5 messages, {len(outcomes)} attempts ({summary})")
    for dead in dead_letters(engine):
        lines.append(f"outbox: dead letter {dead.id} after {dead.attempts} attempts: "
                     f"{(dead.last_error or '').strip()}")
    repaired = True
    lines.append(f"outbox: replayed {replay(engine)} dead letter(s); "
                 f"{sum(o.result == 'done' for o in worker.drain())} delivered on replay")
    return lines


def run_demo(settings: Settings, *, fresh: bool = True) -> int:
    # The walkthrough fails on purpose; its summary says so, the per-attempt warnings would only be noise.
    logging.getLogger("outbox.worker").setLevel(logging.CRITICAL)
    if fresh:
        _fresh_sqlite(settings.database_url)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    lines = [f"database: {engine.url.render_as_string(hide_password=True)} at revision {current_revision(engine)}"]
    lines += outbox_walkthrough(engine)
    for topic in status(engine):
        lines.append(f"outbox topic {topic.topic}: done={topic.done} pending={topic.pending} dead={topic.dead}")
    print("\n".join(lines))
    print("\nwhere to look: `gateway outbox status`, `gateway serve` then /health and /metrics")
    engine.dispose()
    return 0
