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


@dataclass(frozen=True)
class PartyChange:
    """What adding or updating a party did: a new party, or the names of the fields that changed."""

    gln: str
    new: bool
    changed: tuple[str, ...]

    def describe(self) -> str:
        if self.new:
            return f"added {self.gln}"
        return f"updated {self.gln}: {', '.join(self.changed)}" if self.changed else f"unchanged {self.gln}"


def _checked_roles(gln: str, roles: Iterable[str], acts_for: Iterable[str]) -> tuple[str, ...]:
    checked = tuple(dict.fromkeys(r.upper() for r in roles))
    if not is_valid_gln(gln):
        raise PartyError(f"{gln!r} is not a valid GLN (13 digits with a GS1 check digit)")
    if not checked:
        raise PartyError(f"party {gln} needs at least one role")
    unknown = sorted(set(checked) - KNOWN_ROLES)
    if unknown:
        raise PartyError(f"unknown role(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_ROLES))}")
    for principal in acts_for:
        if not is_valid_gln(principal):
            raise PartyError(f"acts-for {principal!r} is not a valid GLN")
        if principal == gln:
            raise PartyError(f"party {gln} cannot act for itself")
    return checked


def _upsert(
    session: Session,
    gln: str,
    *,
    roles: tuple[str, ...],
    name: str,
    own: bool,
    token: str | None,
    cert_fingerprint: str | None,
    acts_for: Iterable[str],
) -> tuple[Party, PartyChange]:
    existing = session.get(Party, gln)
    party = existing or Party(gln=gln, created_at=utcnow())
    before = (list(party.roles or ()), party.name, party.own, party.token_sha256, party.cert_fingerprint,
              list(party.acts_for or ()))
    party.roles = list(roles)
    party.name = name or party.name or ""
    party.own = own or bool(party.own)
    party.acts_for = sorted(set(party.acts_for or ()) | set(acts_for))
    if token is not None:
        party.token_sha256 = token_digest(token)
    if cert_fingerprint is not None:
        party.cert_fingerprint = cert_fingerprint.replace(":", "").lower()
    after = (list(party.roles), party.name, party.own, party.token_sha256, party.cert_fingerprint,
             list(party.acts_for))
    fields = ("roles", "name", "own", "token", "certificate", "acts_for")
    changed = tuple(f for f, b, a in zip(fields, before, after, strict=True) if b != a)
    session.add(party)
    return party, PartyChange(gln, existing is None, () if existing is None else changed)


def _unregistered(session: Session, glns: Iterable[str], also_known: Iterable[str] = ()) -> list[str]:
    wanted = set(glns) - set(also_known)
    if not wanted:
        return []
    found = set(session.execute(select(Party.gln).where(col(Party.gln).in_(wanted))).scalars())
    return sorted(wanted - found)


def register_party(
    engine: Engine,
    gln: str,
    *,
    roles: Iterable[str],
    name: str = "",
    own: bool = False,
    token: str | None = None,
    cert_fingerprint: str | None = None,
    acts_for: Iterable[str] = (),
) -> tuple[PartyInfo, PartyChange]:
    """Create or update a party (running the same command twice changes nothing); what it changed.

    A party may act only for parties that are registered already (`--acts-for` of an unknown GLN is a typing
    error that would otherwise authorise nobody, or someone later)."""
    acts_for = tuple(acts_for)
    checked = _checked_roles(gln, roles, acts_for)
    with Session(engine) as session, session.begin():
        missing = _unregistered(session, acts_for)
        if missing:
            raise PartyError(f"acts-for {', '.join(missing)}: not a registered party; register it first "
                             "(gateway parties add GLN --role …)")
        party, change = _upsert(session, gln, roles=checked, name=name, own=own, token=token,
                                cert_fingerprint=cert_fingerprint, acts_for=acts_for)
        session.flush()
        return party_info(party), change


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
    return register_party(engine, gln, roles=roles, name=name, own=own, token=token,
                          cert_fingerprint=cert_fingerprint, acts_for=acts_for)[0]


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


def _text(entry: dict[str, object], key: str, number: int) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PartyError(f"[[parties]] entry {number}: {key} must be a string, got {value!r}")
    return value


def _texts(entry: dict[str, object], key: str, number: int) -> list[str]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PartyError(f"[[parties]] entry {number}: {key} must be a list of strings, got {value!r}")
    return list(value)


@dataclass(frozen=True)
class _Entry:
    gln: str
    roles: tuple[str, ...]
    name: str
    own: bool
    token: str | None
    cert_fingerprint: str | None
    acts_for: tuple[str, ...]


def load_parties_from_config(engine: Engine, raw: dict[str, object], *, replace: bool = False) -> list[PartyChange]:
    """`[[parties]]` tables of the configuration file: gln, roles, name, own, token, cert_fingerprint, acts_for.

    All or nothing, in one transaction. New parties are added; a registered party that the file would change
    (a new token above all: an example file's token must not silently replace a real one) is changed only with
    ``replace``; without it nothing is stored and the error lists what would change. ``acts_for`` may name
    parties registered already or listed in the same file."""
    entries = raw.get("parties", [])
    if not isinstance(entries, list):
        raise PartyError("`parties` in the configuration must be an array of tables ([[parties]])")
    if not entries:
        raise PartyError("the configuration file has no [[parties]] entries (gateway.example.toml shows them)")
    parsed = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise PartyError(f"[[parties]] entry {number} must be a table")
        gln = _text(entry, "gln", number)
        if gln is None:
            raise PartyError(f"[[parties]] entry {number} has no gln")
        own = entry.get("own", False)
        if not isinstance(own, bool):
            raise PartyError(f"[[parties]] entry {number}: own must be true or false, got {own!r}")
        acts_for = _texts(entry, "acts_for", number)
        parsed.append(_Entry(gln, _checked_roles(gln, _texts(entry, "roles", number), acts_for),
                             _text(entry, "name", number) or "", own, _text(entry, "token", number),
                             _text(entry, "cert_fingerprint", number), tuple(acts_for)))
    glns = [p.gln for p in parsed]
    repeated = sorted({g for g in glns if glns.count(g) > 1})
    if repeated:
        raise PartyError(f"[[parties]] lists {', '.join(repeated)} more than once")
    with Session(engine) as session, session.begin():
        missing = _unregistered(session, {g for p in parsed for g in p.acts_for}, also_known=glns)
        if missing:
            raise PartyError(f"acts_for {', '.join(missing)}: neither registered nor in the file")
        changes = [_upsert(session, p.gln, roles=p.roles, name=p.name, own=p.own, token=p.token,
                           cert_fingerprint=p.cert_fingerprint, acts_for=p.acts_for)[1] for p in parsed]
        blocked = [c for c in changes if not c.new and c.changed]
        if blocked and not replace:
            what = "; ".join(f"{c.gln}: {', '.join(c.changed)}" for c in blocked)
            raise PartyError(f"the file would change registered parties ({what}); nothing was stored. Run "
                             "`gateway parties load --replace` to apply these changes")
        return changes
