"""Roles and what each may do. A route names the permission it needs; a role grants a fixed set of them."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    SUPPORT = "support"  # customer service and integration support: read everything, identity codes masked
    BILLING_ADMIN = "billing-admin"  # replay, billing runs, manual allocation; may reveal identity codes (audited)
    API_CLIENT = "api-client"  # the billing core's token: the JSON API only


class Permission(StrEnum):
    READ = "read"  # the JSON API's read routes
    PAGES = "pages"  # the support web pages (people, not programs)
    REVEAL_IDENTITY_CODE = "reveal-identity-code"  # a full personal identity code, with a reason, audited
    REPLAY = "replay"  # dead letters back into the outbox
    BILLING_RUN = "billing-run"  # (invoicing: starts billing runs)
    ALLOCATE_PAYMENT = "allocate-payment"  # (receivables: manual allocation of unmatched payments)


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.SUPPORT: frozenset({Permission.READ, Permission.PAGES}),
    Role.BILLING_ADMIN: frozenset({
        Permission.READ, Permission.PAGES, Permission.REVEAL_IDENTITY_CODE, Permission.REPLAY,
        Permission.BILLING_RUN, Permission.ALLOCATE_PAYMENT,
    }),
    Role.API_CLIENT: frozenset({Permission.READ, Permission.REVEAL_IDENTITY_CODE}),
}


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise ValueError(f"unknown role {text!r}; one of: {', '.join(r.value for r in Role)}") from None


def may(role: Role | str, permission: Permission) -> bool:
    try:
        return permission in GRANTS[Role(role)]
    except ValueError:
        return False  # a role this version does not know grants nothing
