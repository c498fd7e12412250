"""Settings from the environment and an optional TOML file (environment wins).

`GATEWAY_CONFIG` names the file; `GATEWAY_DATABASE_URL` selects the database (SQLite under `var/` by default,
PostgreSQL with `postgresql+psycopg://…`).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from outbox import OutboxSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = Path(os.environ.get("GATEWAY_VAR_DIR", "var"))


def default_database_url() -> str:
    return f"sqlite:///{DEFAULT_VAR_DIR / 'gateway.db'}"


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=default_database_url)
    max_message_bytes: int = 50 * 1024 * 1024
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    outbox_retention: timedelta = timedelta(days=14)
    inbox_retention: timedelta = timedelta(days=90)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _outbox_settings(table: dict[str, Any]) -> OutboxSettings:
    base = OutboxSettings()
    return OutboxSettings(
        lease=timedelta(seconds=float(table.get("lease_seconds", base.lease.total_seconds()))),
        max_attempts=int(table.get("max_attempts", base.max_attempts)),
        backoff_base=timedelta(seconds=float(table.get("backoff_base_seconds",
                                                      base.backoff_base.total_seconds()))),
        backoff_max=timedelta(seconds=float(table.get("backoff_max_seconds", base.backoff_max.total_seconds()))),
        batch_size=int(table.get("batch_size", base.batch_size)),
    )


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    config_path = path or os.environ.get("GATEWAY_CONFIG")
    raw: dict[str, Any] = {}
    if config_path:
        with open(config_path, "rb") as fh:
            raw = tomllib.load(fh)
    gateway = raw.get("gateway", {})
    url = os.environ.get("GATEWAY_DATABASE_URL") or gateway.get("database_url") or default_database_url()
    outbox_table = dict(raw.get("outbox", {}))
    return Settings(
        database_url=url,
        max_message_bytes=int(
            os.environ.get("GATEWAY_MAX_MESSAGE_BYTES") or gateway.get("max_message_bytes", 50 * 1024 * 1024)
        ),
        outbox=_outbox_settings(outbox_table),
        outbox_retention=timedelta(days=float(outbox_table.get("retention_days", 14))),
        inbox_retention=timedelta(days=float(outbox_table.get("inbox_retention_days", 90))),
        raw=raw,
    )
