"""Every table the migrations manage: the outbox's and the gateway's own."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlmodel import SQLModel

import outbox


def all_metadata() -> list[MetaData]:
    from gateway.store import (  # noqa: F401  - registers tables
        billing_tables,
        payments_tables,
        rating_tables,
        support_tables,
        tables,
    )

    return [outbox.metadata, SQLModel.metadata]
