"""The registry of market parties: who they are, which roles they play, how they authenticate, which are ours."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col, select

from gateway.domain.identifiers import is_valid_gln
from gateway.store.tables import Party
from outbox.types import utcnow

# Roles a party can hold (EnergyBusinessProcessRole values, plus DH for Fingrid Datahub itself).
KNOWN_ROLES = frozenset({"DDM", "DDQ", "DDZ", "MDR", "ESC", "MIA", "Z08", "DH"})


class PartyError(ValueError):
    pass


@dataclass(frozen=True)
class PartyInfo:
    gln: str
    name: str
    roles: tuple[str, ...]
    own: bool
    acts_for: tuple[str, ...]
    has_token: bool
    cert_fingerprint: str | None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def party_info(p: Party) -> PartyInfo:
    return PartyInfo(p.gln, p.name, tuple(p.roles), p.own, tuple(p.acts_for), p.token_sha256 is not None,
                     p.cert_fingerprint)


def add_party(
    engine: Engine,
    gln: str,
    *,
    roles: Iterable[str],
    name: str = "",
    own: bool = False,
    token: str | None = None,
    cert_fingerprint: str | None = None,
    acts_for: Iterable[str] = (),
) -> PartyInfo:
    """Create or update a party (idempotent: running the same command twice changes nothing)."""
    roles = tuple(dict.fromkeys(r.upper() for r in roles))
    if not is_valid_gln(gln):
        raise PartyError(f"{gln!r} is not a valid GLN (13 digits with a GS1 check digit)")
    if not roles:
        raise PartyError("a party needs at least one role")
    unknown = sorted(set(roles) - KNOWN_ROLES)
    if unknown:
        raise PartyError(f"unknown role(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_ROLES))}")
    for principal in acts_for:
        if not is_valid_gln(principal):
            raise PartyError(f"acts-for {principal!r} is not a valid GLN")
    with Session(engine) as session, session.begin():
        party = session.get(Party, gln) or Party(gln=gln, created_at=utcnow())
        party.roles = list(roles)
        party.name = name or party.name
        party.own = own or party.own
        party.acts_for = sorted(set(party.acts_for) | set(acts_for))
        if token is not None:
            party.token_sha256 = token_digest(token)
        if cert_fingerprint is not None:
            party.cert_fingerprint = cert_fingerprint.replace(":", "").lower()
        session.add(party)
        session.flush()
        return party_info(party)


def list_parties(engine: Engine) -> list[PartyInfo]:
    with Session(engine) as session:
        return [party_info(p) for p in session.execute(select(Party).order_by(col(Party.gln))).scalars()]


def own_glns(engine: Engine) -> frozenset[str]:
    with Session(engine) as session:
        return frozenset(session.execute(select(Party.gln).where(col(Party.own).is_(True))).scalars())


def get_party(engine: Engine, gln: str) -> PartyInfo | None:
    with Session(engine) as session:
        party = session.get(Party, gln)
        return party_info(party) if party else None


def authenticate_token(engine: Engine, token: str) -> PartyInfo | None:
    digest = token_digest(token)
    with Session(engine) as session:
        party = session.execute(select(Party).where(col(Party.token_sha256) == digest)).scalars().first()
        if party is None or party.token_sha256 is None or not hmac.compare_digest(party.token_sha256, digest):
            return None
        return party_info(party)


def authenticate_certificate(engine: Engine, fingerprint: str) -> PartyInfo | None:
    normalised = fingerprint.replace(":", "").lower()
    with Session(engine) as session:
        party = session.execute(select(Party).where(col(Party.cert_fingerprint) == normalised)).scalars().first()
        return party_info(party) if party else None


def load_parties_from_config(engine: Engine, raw: dict[str, object]) -> int:
    """`[[parties]]` tables of the configuration file: gln, roles, name, own, token, cert_fingerprint, acts_for."""
    entries = raw.get("parties", [])
    if not isinstance(entries, list):
        raise PartyError("`parties` in the configuration must be an array of tables")
    for entry in entries:
        if not isinstance(entry, dict):
            raise PartyError("each [[parties]] entry must be a table")
        add_party(
            engine,
            str(entry["gln"]),
            roles=[str(r) for r in entry.get("roles", [])],
            name=str(entry.get("name", "")),
            own=bool(entry.get("own", False)),
            token=entry.get("token"),
            cert_fingerprint=entry.get("cert_fingerprint"),
            acts_for=[str(g) for g in entry.get("acts_for", [])],
        )
    return len(entries)
