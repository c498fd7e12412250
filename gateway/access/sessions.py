"""Signed session cookies for the support pages, and the key that signs them.

The key comes from configuration (`[support] session_secret` or `GATEWAY_SESSION_SECRET`); without one it is
generated once and kept in the database (`app_secret`), so every process of a deployment signs alike and
`serve` never refuses to start for want of it. The cookie carries the user id, a prefix of the user's token
hash (a rotated or revoked token ends its sessions) and a CSRF token for the pages' forms; itsdangerous signs
and timestamps it.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any, Final

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.store.support_tables import AppSecret
from outbox.types import utcnow

COOKIE: Final = "gw_session"
MAX_AGE_SECONDS: Final = 8 * 3600  # a working day
SECRET_NAME: Final = "session_secret"
_SALT: Final = "gateway.support.session"


@dataclass(frozen=True)
class SessionData:
    user_id: int
    token_prefix: str
    csrf: str


def configured_secret(raw_settings: dict[str, Any]) -> str | None:
    value = os.environ.get("GATEWAY_SESSION_SECRET") or dict(raw_settings.get("support", {})).get("session_secret")
    return str(value) if value else None


def stored_secret(engine: Engine) -> str:
    """The database's session key, created by the first process that asks (a concurrent creator's key wins)."""
    with Session(engine) as session:
        row = session.get(AppSecret, SECRET_NAME)
        if row is not None:
            return row.value
    try:
        with Session(engine) as session, session.begin():
            session.add(AppSecret(name=SECRET_NAME, value=secrets.token_urlsafe(48), created_at=utcnow()))
    except IntegrityError:
        pass  # another process stored one first: use that
    with Session(engine) as session:
        row = session.get(AppSecret, SECRET_NAME)
        assert row is not None
        return row.value


class SessionSigner:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)

    def dumps(self, data: SessionData) -> str:
        return str(self._serializer.dumps({"u": data.user_id, "t": data.token_prefix, "c": data.csrf}))

    def loads(self, cookie: str) -> SessionData | None:
        try:
            raw = self._serializer.loads(cookie, max_age=MAX_AGE_SECONDS)
        except BadSignature:  # includes SignatureExpired
            return None
        if not isinstance(raw, dict):
            return None
        try:
            return SessionData(int(raw["u"]), str(raw["t"]), str(raw["c"]))
        except (KeyError, TypeError, ValueError):
            return None


def new_session(user_id: int, token_sha256: str) -> SessionData:
    return SessionData(user_id, token_sha256[:16], secrets.token_urlsafe(24))
