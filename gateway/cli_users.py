"""`gateway users …`: people and API clients of the internal API and the support pages (registered into
gateway.cli). `users add NAME --role ROLE` prints the new bearer token once, alone on the last line."""

from __future__ import annotations

import argparse
import json
import sys

from gateway.config import Settings


def _engine(settings: Settings) -> object:
    from gateway.cli import _require_migrated
    from gateway.store.db import make_engine

    engine = make_engine(settings.database_url)
    _require_migrated(engine)
    return engine


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.access.users import UserError, add_user

    try:
        user, token = add_user(_engine(settings), args.name, args.role)  # type: ignore[arg-type]
    except UserError as error:
        print(f"gateway users add: {error}", file=sys.stderr)
        return 2
    print(f"user {user.name} ({user.role}) created; its bearer token is shown once, below, and stored only as a "
          "hash:")
    print(token)
    return 0


def cmd_users_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.access.users import UserError, rotate_token

    try:
        token = rotate_token(_engine(settings), args.name)  # type: ignore[arg-type]
    except UserError as error:
        print(f"gateway users rotate: {error}", file=sys.stderr)
        return 2
    print(f"new token for {args.name}; the old one and its sessions no longer work:")
    print(token)
    return 0


def cmd_users_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.access.users import UserError, revoke_user

    try:
        revoke_user(_engine(settings), args.name)  # type: ignore[arg-type]
    except UserError as error:
        print(f"gateway users revoke: {error}", file=sys.stderr)
        return 2
    print(f"user {args.name} revoked")
    return 0


def cmd_users_list(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.access.users import list_users

    users = list_users(_engine(settings))  # type: ignore[arg-type]
    if args.json:
        print(json.dumps([u.__dict__ for u in users]))
        return 0
    for u in users:
        print(f"{u.name:<30} {u.role:<14} created {u.created_at[:19]}{'  REVOKED' if u.revoked else ''}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from gateway.access.roles import Role

    users = subparsers.add_parser("users", help="users and API clients of the API and support pages") \
        .add_subparsers(dest="users_command", required=True)
    p = users.add_parser("add", help="create a user; prints its bearer token once, on the last line")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=[r.value for r in Role])
    p.set_defaults(func=cmd_users_add)
    p = users.add_parser("rotate", help="issue a new token (the old one stops working)")
    p.add_argument("name")
    p.set_defaults(func=cmd_users_rotate)
    p = users.add_parser("revoke", help="disable a user or API client")
    p.add_argument("name")
    p.set_defaults(func=cmd_users_revoke)
    p = users.add_parser("list", help="list users (never their tokens)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_users_list)
