"""`gateway …`: the command line of the Datahub gateway."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta

from gateway.config import Settings, load_settings
from gateway.store.db import make_engine
from gateway.store.migrate import current_revision, head_revision, upgrade

Command = Callable[[argparse.Namespace, Settings], int]


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    before = current_revision(engine)
    upgrade(engine, args.revision)
    after = current_revision(engine)
    print(f"database {engine.url.render_as_string(hide_password=True)}: {before or 'empty'} -> {after}")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from gateway.app import create_app

    web.run_app(create_app(settings), host=args.host, port=args.port, print=None)
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.bootstrap import build_registry
    from outbox.runner import run_worker
    from outbox.worker import Worker

    engine = make_engine(settings.database_url)
    _require_migrated(engine)
    worker = Worker(engine, build_registry(settings, engine), settings.outbox, topics=args.topic or None)
    return run_worker(worker)


def cmd_outbox_status(args: argparse.Namespace, settings: Settings) -> int:
    from outbox.admin import dead_letters, status

    engine = make_engine(settings.database_url)
    rows = status(engine)
    dead = dead_letters(engine, limit=args.limit)
    if args.json:
        print(json.dumps({"topics": [r.__dict__ for r in rows],
                          "dead_letters": [{**d.__dict__, "created_at": d.created_at.isoformat()} for d in dead]}))
        return 0
    print(f"{'topic':<32} {'pending':>8} {'processing':>10} {'done':>8} {'dead':>6} {'oldest age s':>12}")
    for r in rows:
        age = f"{r.oldest_pending_age_seconds:.1f}" if r.oldest_pending_age_seconds is not None else "-"
        print(f"{r.topic:<32} {r.pending:>8} {r.processing:>10} {r.done:>8} {r.dead:>6} {age:>12}")
    for d in dead:
        print(f"dead letter {d.id} ({d.topic}, {d.attempts} attempts): {(d.last_error or '').splitlines()[-1:]}")
    return 0


def cmd_outbox_replay(args: argparse.Namespace, settings: Settings) -> int:
    from outbox.admin import replay

    if not args.all_dead and not args.ids:
        print("gateway outbox replay: name message ids or --all-dead", file=sys.stderr)
        return 2
    count = replay(make_engine(settings.database_url), None if args.all_dead else args.ids)
    print(f"replayed {count} dead letter(s)")
    if args.ids and count < len(args.ids):
        print("some ids were not dead letters and were left as they are", file=sys.stderr)
        return 1
    return 0


def cmd_outbox_purge(args: argparse.Namespace, settings: Settings) -> int:
    from outbox.admin import purge_inbox, purge_processed

    engine = make_engine(settings.database_url)
    older = timedelta(days=args.older_than_days) if args.older_than_days is not None else settings.outbox_retention
    removed = purge_processed(engine, older, archive=args.archive)
    forgotten = purge_inbox(engine, settings.inbox_retention)
    print(f"{'archived' if args.archive else 'deleted'} {removed} processed message(s); "
          f"forgot {forgotten} inbox entr(ies) older than {settings.inbox_retention.days} days")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.demo import run_demo

    return run_demo(settings, fresh=not args.keep)


def _require_migrated(engine: object) -> None:
    from sqlalchemy.engine import Engine

    assert isinstance(engine, Engine)
    if current_revision(engine) != head_revision(engine):
        raise SystemExit("the database schema is not at the latest revision: run `gateway migrate` first")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="Fingrid Datahub gateway and billing core")
    parser.add_argument("--config", help="TOML configuration file (default: $GATEWAY_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="upgrade the database schema (Alembic)")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("serve", help="run the HTTP service (/health, /metrics, SOAP endpoint, API)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run an outbox worker (start several processes to scale out)")
    p.add_argument("--topic", action="append", help="only these topics (default: all registered)")
    p.set_defaults(func=cmd_worker)

    outbox = sub.add_parser("outbox", help="inspect and operate the outbox").add_subparsers(
        dest="outbox_command", required=True
    )
    p = outbox.add_parser("status", help="queue depth, oldest pending age, dead letters")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=20, help="dead letters to list")
    p.set_defaults(func=cmd_outbox_status)
    p = outbox.add_parser("replay", help="give dead letters a fresh set of attempts")
    p.add_argument("ids", nargs="*", type=int)
    p.add_argument("--all-dead", action="store_true")
    p.set_defaults(func=cmd_outbox_replay)
    p = outbox.add_parser("purge", help="retention: remove (or archive) old processed messages")
    p.add_argument("--older-than-days", type=float, default=None)
    p.add_argument("--archive", action="store_true")
    p.set_defaults(func=cmd_outbox_purge)

    p = sub.add_parser("demo", help="run the end-to-end demo on the embedded SQLite database")
    p.add_argument("--keep", action="store_true", help="keep the existing demo database")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
    except (OSError, ValueError) as exc:
        print(f"gateway: cannot read configuration: {exc}", file=sys.stderr)
        return 2
    func: Command = args.func
    try:
        return func(args, settings)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
