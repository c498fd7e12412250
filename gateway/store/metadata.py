"""Every table the migrations manage: the outbox's and the gateway's own."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlmodel import SQLModel

import outbox


def all_metadata() -> list[MetaData]:
    from gateway.store import billing_tables, rating_tables, support_tables, tables  # noqa: F401  - registers tables

    return [outbox.metadata, SQLModel.metadata]
