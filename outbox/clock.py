"""Where "now" comes from when leases and due times are decided: the database's clock, or one a test moves.

Workers on several hosts compare lease ends and due times written by each other. Taking "now" from the
database makes those comparisons agree even when the hosts' clocks do not. A worker reads the clock once per
claim, heartbeat or failure and binds the value into its statements; statements that only stamp a row (mark
done, enqueue) let the database evaluate its own clock in place. Tests inject a :class:`ManualClock`, which
the worker and its SQL then both read, and move time with it instead of sleeping.

SQLite has no server: its clock is the clock of the host the database file lives on, i.e. this process's, so
on SQLite the database clock is read without a statement.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.elements import ColumnElement

from outbox.types import UTCDateTime, utcnow


class Clock(ABC):
    @abstractmethod
    def now(self, connection: Connection) -> datetime:
        """The current instant, read through `connection` if the clock lives in the database."""

    def in_sql(self, dialect: Dialect) -> ColumnElement[datetime] | None:
        """An expression the database evaluates as "now" inside a statement, or None when statements must
        be given :meth:`now` as a bound value instead."""
        del dialect
        return None

    def estimate(self) -> datetime:
        """A reading without a database round trip, for heuristics only (when to renew a lease early);
        decisions that matter are made by conditional statements with :meth:`now`."""
        return utcnow()


class DatabaseClock(Clock):
    """The database server's clock (PostgreSQL `clock_timestamp()`), the host's clock on SQLite."""

    def __init__(self) -> None:
        self._skew = timedelta(0)  # database minus local clock, as last measured; only for estimate()

    def now(self, connection: Connection) -> datetime:
        if connection.dialect.name == "sqlite":
            return utcnow()
        local = utcnow()
        value = connection.execute(select(_server_now(connection.dialect))).scalar_one()
        self._skew = value - local
        return value  # type: ignore[no-any-return]

    def in_sql(self, dialect: Dialect) -> ColumnElement[datetime] | None:
        return None if dialect.name == "sqlite" else _server_now(dialect)

    def estimate(self) -> datetime:
        return utcnow() + self._skew


def _server_now(dialect: Dialect) -> ColumnElement[datetime]:
    if dialect.name == "postgresql":
        # The instant itself, not the start of the transaction (`now()`), which can be long past in a batch.
        return func.clock_timestamp(type_=UTCDateTime())
    return func.current_timestamp(type_=UTCDateTime())


class ManualClock(Clock):
    """A clock that only moves when told to: tests hand it to workers (and to `enqueue`) to move time."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or utcnow()
        self._lock = threading.Lock()

    def now(self, connection: Connection | None = None) -> datetime:
        with self._lock:
            return self._now

    def estimate(self) -> datetime:
        return self.now()

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._now = instant


DATABASE_CLOCK = DatabaseClock()
