"""The provider's status updates arrive by poll and by webhook, possibly at the same moment: each event is
stored once, and the channel that loses the race counts it as a duplicate instead of failing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from gateway.payments.provider.api import JobStatus, JobType, StatusUpdate
from gateway.payments.status_updates import Stored, store_updates
from gateway.store.payments_tables import ProviderEventRow

ACCOUNT = "ropo-retail-0001"
UPDATES = [
    StatusUpdate(f"{ACCOUNT}-00000000{n}", 1001, JobType.INVOICE, "RF0000000000000", "100000001", status,
                 datetime(2026, 4, 2, 9, n, tzinfo=UTC), Decimal("68.49"), Decimal("0.00"))
    for n, status in ((1, JobStatus.INVOICING), (2, JobStatus.DUE))
]


def stored_events(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.execute(select(func.count()).select_from(ProviderEventRow)).scalar_one())


def test_the_same_events_stored_twice_are_duplicates_the_second_time(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        assert store_updates(session, ACCOUNT, UPDATES, "poll") == Stored(2, 0, 2)  # no job of ours: unknown
    with Session(engine) as session, session.begin():
        assert store_updates(session, ACCOUNT, UPDATES, "webhook") == Stored(0, 2, 0)
    assert stored_events(engine) == 2


def test_a_channel_that_read_before_the_other_committed_counts_duplicates_instead_of_failing(
    engine: Engine,
) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite transactions here begin IMMEDIATE: the second channel cannot read before the first "
                    "commits, so this race exists on PostgreSQL only")
    # The poll has stored both events but not committed; the webhook reads "not known" meanwhile and must,
    # once the poll commits, find them claimed rather than violate the (account, event id) constraint.
    poll = Session(engine)
    poll.begin()
    assert store_updates(poll, ACCOUNT, UPDATES, "poll").stored == 2
    result: list[Stored | BaseException] = []
    read_known = threading.Event()

    def after_execute(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "provider_event" in statement:
            read_known.set()

    def webhook() -> None:
        try:
            with engine.connect() as connection:
                event.listen(connection, "after_cursor_execute", after_execute)
                with Session(bind=connection) as session, session.begin():
                    result.append(store_updates(session, ACCOUNT, UPDATES, "webhook"))
        except BaseException as error:  # reported to the test thread
            result.append(error)
        finally:
            read_known.set()

    thread = threading.Thread(target=webhook)
    thread.start()
    assert read_known.wait(60)  # the webhook has looked for the events and not seen them
    poll.commit()  # its insert waits for this (row lock on PostgreSQL, write lock on SQLite) or follows it
    poll.close()
    thread.join(60)
    assert not thread.is_alive()
    assert result == [Stored(0, 2, 0)]
    assert stored_events(engine) == 2
