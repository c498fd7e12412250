"""Settings from the environment and an optional TOML file (environment wins).

`GATEWAY_CONFIG` names the file; `GATEWAY_DATABASE_URL` selects the database (SQLite under `var/` by default,
PostgreSQL with `postgresql+psycopg://…`); `GATEWAY_PUBLIC_URL` is the address market parties reach the HTTP
service at (the WSDL's `soap:address`). Every value is checked here, so a wrong one is one clear line at start-up
(`ConfigError`) instead of a failure deep inside a command.

Importing this module stays cheap (no SQLAlchemy): `gateway --help` and the simulators load it too.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from outbox import OutboxSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = Path(os.environ.get("GATEWAY_VAR_DIR", "var"))
DEFAULT_MAX_MESSAGE_BYTES = 50 * 1024 * 1024
DATABASE_URL_FORMS = "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"


class ConfigError(ValueError):
    """A setting is missing, malformed or out of range; the message names it and says what is expected."""


def default_database_url() -> str:
    return f"sqlite:///{DEFAULT_VAR_DIR / 'gateway.db'}"


def _default_outbox() -> OutboxSettings:
    from outbox import OutboxSettings

    return OutboxSettings()


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=default_database_url)
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    outbox: OutboxSettings = field(default_factory=_default_outbox)
    outbox_retention: timedelta = timedelta(days=14)
    inbox_retention: timedelta = timedelta(days=90)
    # Base URL market parties reach this service at (scheme, host, port, optional path prefix); None: the
    # address the server listens on.
    public_url: str | None = None
    config_path: str | None = None  # the TOML file these settings came from, if any
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _number(value: object, name: str, kind: type[int] | type[float], *, positive: bool = True) -> Any:
    """``value`` as ``kind``, refusing booleans, fractions for integers, and (by default) anything ≤ 0."""
    expected = "a whole number" if kind is int else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{name} must be {expected}, got {value!r}")
    try:
        number = kind(value)
    except ValueError:
        raise ConfigError(f"{name} must be {expected}, got {value!r}") from None
    if kind is int and isinstance(value, float) and value != number:
        raise ConfigError(f"{name} must be {expected}, got {value!r}")
    if number < 0 or (positive and number == 0) or number != number or number == float("inf"):  # NaN, ∞
        raise ConfigError(f"{name} must be {'positive' if positive else 'zero or more'}, got {value!r}")
    return number


def _outbox_settings(table: dict[str, Any]) -> OutboxSettings:
    from outbox import OutboxSettings

    base = OutboxSettings()

    def seconds(key: str, default: timedelta) -> timedelta:
        return timedelta(seconds=_number(table.get(key, default.total_seconds()), f"[outbox] {key}", float))

    return OutboxSettings(
        lease=seconds("lease_seconds", base.lease),
        max_attempts=_number(table.get("max_attempts", base.max_attempts), "[outbox] max_attempts", int),
        backoff_base=seconds("backoff_base_seconds", base.backoff_base),
        backoff_max=seconds("backoff_max_seconds", base.backoff_max),
        batch_size=_number(table.get("batch_size", base.batch_size), "[outbox] batch_size", int),
    )


def check_public_url(url: str, name: str = "public_url") -> str:
    """An absolute http(s) URL with a host and no query; returned without a trailing slash."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{name} must be an http:// or https:// URL with a host and no query, e.g. "
                          f"https://gateway.example.fi, got {url!r}")
    try:
        parts.port  # noqa: B018 (a malformed port raises here)
    except ValueError:
        raise ConfigError(f"{name} has an invalid port: {url!r}") from None
    return url.strip().rstrip("/")


def database_url_problem(url: str) -> str | None:
    """What is wrong with a database URL, as one sentence with the fix; None when the gateway can use it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return f"{_safe(url)!r} is not a database URL; use {DATABASE_URL_FORMS}"
    backend = parsed.drivername.partition("+")[0]  # not get_driver_name(): it loads the dialect
    if backend == "sqlite":
        if parsed.drivername not in ("sqlite", "sqlite+pysqlite"):
            return f"SQLite is reached through Python's own driver: use sqlite:///PATH, not {parsed.drivername}://"
        return None
    if backend in ("postgres", "postgresql"):
        if parsed.drivername == "postgresql+psycopg":
            return None if parsed.database else "the PostgreSQL URL names no database: add /DATABASE at its end"
        fixed = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=True)
        return (f"this gateway reaches PostgreSQL through psycopg 3: write the URL as {fixed} "
                f"(not {parsed.drivername}://)")
    return f"{backend} databases are not supported; use {DATABASE_URL_FORMS}"


def _safe(url: str) -> str:
    """The URL without its password, for messages (best effort: it may not even parse)."""
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme, sep, credentials = head.partition("://")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{tail}" if ":" in credentials else url


def safe_database_url(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: mask what looks like a password
        return _safe(url)


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Settings from ``path`` (or `GATEWAY_CONFIG`) and the environment. Raises ``OSError`` when the file
    cannot be read and ``ConfigError`` for a malformed file or value."""
    config_path = path or os.environ.get("GATEWAY_CONFIG") or None
    raw: dict[str, Any] = {}
    if config_path:
        with open(config_path, "rb") as fh:
            try:
                raw = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{config_path} is not valid TOML: {exc}") from None
    gateway = raw.get("gateway", {})
    outbox_table = raw.get("outbox", {})
    if not isinstance(gateway, dict) or not isinstance(outbox_table, dict):
        raise ConfigError("[gateway] and [outbox] must be tables")
    url = os.environ.get("GATEWAY_DATABASE_URL") or gateway.get("database_url") or default_database_url()
    if not isinstance(url, str):
        raise ConfigError(f"database_url must be a string, got {url!r}")
    max_bytes_env = os.environ.get("GATEWAY_MAX_MESSAGE_BYTES")
    max_bytes = _number(max_bytes_env if max_bytes_env else gateway.get("max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES),
                        "GATEWAY_MAX_MESSAGE_BYTES" if max_bytes_env else "[gateway] max_message_bytes", int)
    public_env = os.environ.get("GATEWAY_PUBLIC_URL")
    public = public_env or gateway.get("public_url")
    if public is not None and not isinstance(public, str):
        raise ConfigError(f"public_url must be a string, got {public!r}")
    return Settings(
        database_url=url,
        max_message_bytes=max_bytes,
        outbox=_outbox_settings(outbox_table),
        outbox_retention=timedelta(days=_number(outbox_table.get("retention_days", 14),
                                                "[outbox] retention_days", float, positive=False)),
        inbox_retention=timedelta(days=_number(outbox_table.get("inbox_retention_days", 90),
                                               "[outbox] inbox_retention_days", float, positive=False)),
        public_url=None if not public else check_public_url(
            public, "GATEWAY_PUBLIC_URL" if public_env else "[gateway] public_url"),
        config_path=os.fspath(config_path) if config_path else None,
        raw=raw,
    )
