"""Users and API clients: created with a role, authenticated by a bearer token that is stored only as a hash."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.access.roles import Permission, Role, may, parse_role
from gateway.store.support_tables import ApiUser
from outbox.types import utcnow

TOKEN_PREFIX: Final = "gw_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


class UserError(ValueError):
    """A user cannot be created or changed as asked (bad name or role, name taken, no such user)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user or API client that presented a valid, unrevoked token (or its session)."""

    user_id: int
    name: str
    role: Role

    def may(self, permission: Permission) -> bool:
        return may(self.role, permission)


@dataclass(frozen=True)
class UserInfo:
    id: int
    name: str
    role: str
    created_at: str
    revoked: bool


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """256 random bits, URL-safe; the prefix lets secret scanners and people recognise it."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise UserError(f"{name!r} is not a valid user name (letters, digits, . _ @ -; at most 100 characters)")


def add_user(engine: Engine, name: str, role: str) -> tuple[UserInfo, str]:
    """Create a user; returns it with its new token (shown once, never stored)."""
    _check_name(name)
    try:
        parsed = parse_role(role)
    except ValueError as error:
        raise UserError(str(error)) from None
    token = new_token()
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            row = ApiUser(name=name, role=parsed.value, token_sha256=token_digest(token), created_at=utcnow())
            session.add(row)
            session.flush()
    except IntegrityError:
        raise UserError(f"user {name!r} exists already (`gateway users rotate {name}` issues a new token)") from None
    return _info(row), token


def rotate_token(engine: Engine, name: str) -> str:
    """A new token for an existing user; the old one stops working at once (sessions made with it too)."""
    token = new_token()
    with Session(engine) as session, session.begin():
        changed = session.execute(
            update(ApiUser).where(col(ApiUser.name) == name)
            .values(token_sha256=token_digest(token), revoked_at=None, created_at=utcnow())
        ).rowcount  # type: ignore[attr-defined]
    if not changed:
        raise UserError(f"no user {name!r}")
    return token


def revoke_user(engine: Engine, name: str) -> None:
    with Session(engine) as session, session.begin():
        changed = session.execute(
            update(ApiUser).where(col(ApiUser.name) == name, col(ApiUser.revoked_at).is_(None))
            .values(revoked_at=utcnow())
        ).rowcount  # type: ignore[attr-defined]
    if not changed:
        raise UserError(f"no active user {name!r}")


def list_users(engine: Engine) -> list[UserInfo]:
    with Session(engine) as session:
        rows = session.execute(select(ApiUser).order_by(col(ApiUser.name))).scalars().all()
        return [_info(r) for r in rows]


def _info(row: ApiUser) -> UserInfo:
    assert row.id is not None
    return UserInfo(row.id, row.name, row.role, row.created_at.isoformat(), row.revoked_at is not None)


def _principal(row: ApiUser | None) -> Principal | None:
    if row is None or row.id is None or row.revoked_at is not None:
        return None
    try:
        role = Role(row.role)
    except ValueError:
        return None
    return Principal(row.id, row.name, role)


def authenticate_token(session: Session, token: str) -> Principal | None:
    if not token or len(token) > 200:
        return None
    row = session.execute(
        select(ApiUser).where(col(ApiUser.token_sha256) == token_digest(token))
    ).scalar_one_or_none()
    return _principal(row)


def principal_for_session(session: Session, user_id: int, token_sha256_prefix: str) -> Principal | None:
    """The user a session cookie names, if it is still active and its token has not been rotated since."""
    row = session.get(ApiUser, user_id)
    if row is None or not secrets.compare_digest(row.token_sha256[:16], token_sha256_prefix):
        return None
    return _principal(row)
