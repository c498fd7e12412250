"""Column helpers shared by the invoicing and receivables tables: 64-bit ids (INTEGER on SQLite, so they stay
rowid aliases), UTC timestamps, dates."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Date, Integer
from sqlmodel import Field

from outbox.types import UTCDateTime

ID = BigInteger().with_variant(Integer(), "sqlite")


def ts(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime, nullable=nullable))


def pk() -> Any:
    return Field(default=None, sa_column=Column(ID, primary_key=True, autoincrement=True))


def ref(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(ID, nullable=nullable, index=index))


def day(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(Date, nullable=nullable))
