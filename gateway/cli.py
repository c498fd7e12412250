"""`gateway …`: the command line of the Datahub gateway."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from gateway.config import Settings, load_settings
from gateway.runtime import settled_heap
from gateway.store.db import make_engine
from gateway.store.migrate import current_revision, head_revision, upgrade

if TYPE_CHECKING:
    from gateway.receive import Receiver

# Files stored per group commit by `gateway ingest` (the receiver cuts runs further where it must).
_INGEST_BATCH = 500
_INGEST_BATCH_BYTES = 64 * 1024 * 1024

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
    with settled_heap():
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


def cmd_parties_add(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.parties import PartyError, add_party

    engine = make_engine(settings.database_url)
    _require_migrated(engine)
    try:
        party = add_party(engine, args.gln, roles=args.role, name=args.name or "", own=args.own, token=args.token,
                          cert_fingerprint=args.cert_fingerprint, acts_for=args.acts_for or ())
    except PartyError as exc:
        print(f"gateway parties add: {exc}", file=sys.stderr)
        return 2
    print(f"party {party.gln} ({party.name or 'no name'}): roles {', '.join(party.roles)}"
          f"{', one of ours' if party.own else ''}")
    return 0


def cmd_parties_list(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.parties import list_parties

    parties = list_parties(make_engine(settings.database_url))
    if args.json:
        print(json.dumps([p.__dict__ for p in parties]))
        return 0
    for p in parties:
        auth = ", ".join(a for a, on in (("token", p.has_token), ("certificate", bool(p.cert_fingerprint))) if on)
        print(f"{p.gln}  {','.join(p.roles):<10} {'own' if p.own else '   '}  {p.name:<30} {auth or 'no credentials'}"
              + (f"  acts for {', '.join(p.acts_for)}" if p.acts_for else ""))
    return 0


def cmd_parties_load(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.parties import PartyError, load_parties_from_config

    engine = make_engine(settings.database_url)
    _require_migrated(engine)
    try:
        count = load_parties_from_config(engine, settings.raw)
    except (PartyError, KeyError) as exc:
        print(f"gateway parties load: {exc}", file=sys.stderr)
        return 2
    print(f"loaded {count} part{'y' if count == 1 else 'ies'} from the configuration file")
    return 0


def _read_documents(paths: Sequence[str], max_bytes: int) -> Iterator[tuple[str, bytes | str]]:
    """Each file's bytes as they are (a business document or a SOAP envelope around one: the pipeline reads and
    archives either), or the reason it can't be read; one file at a time, so that a day's worth of files never
    sits in memory at once."""
    for path in paths:
        try:
            with open(path, "rb") as fh:
                data = fh.read(max_bytes + 1)
        except OSError as exc:
            yield path, f"cannot read {path}: {exc.strerror}"
            continue
        yield path, data


def _ingest(args: argparse.Namespace, settings: Settings, store: bool) -> int:
    from gateway.parties import get_party
    from gateway.receive import VALIDATION_HELPER_FROM, Receiver

    engine = make_engine(settings.database_url)
    _require_migrated(engine)
    if get_party(engine, args.sender) is None:
        print(f"gateway: {args.sender} is not a registered party (see `gateway parties add`)", file=sys.stderr)
        return 2
    receiver = Receiver(engine, max_bytes=settings.max_message_bytes)
    if store and len(args.files) >= VALIDATION_HELPER_FROM:
        receiver.warm_up()  # starts while the first batch of files is read
    try:
        with settled_heap():
            return _ingest_files(args, receiver, settings, store)
    finally:
        receiver.close()


def _ingest_files(args: argparse.Namespace, receiver: Receiver, settings: Settings, store: bool) -> int:
    """`gateway ingest` / `validate` over the files, one JSON line per message; the exit status."""
    from gateway.receive import ACCEPTED, CHANNEL_CLI, DUPLICATE, REJECTED, ReceiveOutcome

    rejected = failed = False

    def report(path: str, outcome: ReceiveOutcome) -> None:
        nonlocal rejected
        line = {"file": path, **outcome.to_json()}
        if not store and outcome.result == ACCEPTED:
            line["result"] = "valid"  # nothing was stored
        print(json.dumps(line, ensure_ascii=False))
        rejected = rejected or outcome.result not in (ACCEPTED, DUPLICATE)

    def one(path: str, document: bytes) -> None:
        nonlocal failed
        try:
            report(path, receiver.receive(document, authenticated_gln=args.sender, channel=CHANNEL_CLI,
                                          store=store))
        except Exception as exc:
            logging.getLogger("gateway.cli").exception("internal error on %s", path)
            print(json.dumps({"file": path, "result": "error", "errors": [{"code": "INTERNAL", "text": str(exc)}]}))
            failed = True

    def flush(batch: list[tuple[str, bytes]]) -> None:
        # Group commit for many files; if an internal error stops the batch, the files it had not yet answered
        # for are received one by one, so the error is reported against its own file.
        answered = 0
        try:
            for outcome in receiver.receive_many([d for _, d in batch], authenticated_gln=args.sender,
                                                 channel=CHANNEL_CLI):
                report(batch[answered][0], outcome)
                answered += 1
        except Exception:
            logging.getLogger("gateway.cli").info("batch stopped by an error; receiving its rest one by one")
            for path, document in batch[answered:]:
                one(path, document)
        batch.clear()

    batch: list[tuple[str, bytes]] = []
    batch_bytes = 0
    for path, document in _read_documents(args.files, settings.max_message_bytes):
        if isinstance(document, str):
            flush(batch)
            batch_bytes = 0
            error = {"code": "CLI.UNREADABLE", "text": document}
            print(json.dumps({"file": path, "message_id": None, "document_type": None, "result": REJECTED,
                              "reason_code": "CLI.UNREADABLE", "errors": [error]}))
            rejected = True
        elif not store:
            one(path, document)
        else:
            batch.append((path, document))
            batch_bytes += len(document)
            if len(batch) >= _INGEST_BATCH or batch_bytes >= _INGEST_BATCH_BYTES:
                flush(batch)
                batch_bytes = 0
    flush(batch)
    return 1 if failed else 2 if rejected else 0


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    return _ingest(args, settings, store=True)


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    return _ingest(args, settings, store=False)


def cmd_datahub_sim(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.datahub_sim.main import main as sim_main

    return sim_main(args)


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

    parties = sub.add_parser("parties", help="the registry of market parties").add_subparsers(
        dest="parties_command", required=True
    )
    p = parties.add_parser("add", help="add or update a party")
    p.add_argument("gln")
    p.add_argument("--role", action="append", required=True, help="DDM, DDQ, MDR, ESC, DH, … (repeatable)")
    p.add_argument("--name")
    p.add_argument("--own", action="store_true", help="one of our own GLNs")
    p.add_argument("--token", help="bearer token the party authenticates with on our SOAP endpoint")
    p.add_argument("--cert-fingerprint", help="SHA-256 fingerprint of the party's client certificate")
    p.add_argument("--acts-for", action="append", help="GLN of a juridical sender this party may act for")
    p.set_defaults(func=cmd_parties_add)
    p = parties.add_parser("load", help="add or update the [[parties]] of the configuration file")
    p.set_defaults(func=cmd_parties_load)
    p = parties.add_parser("list", help="list the registered parties")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_parties_list)

    for name, func, text in (
        ("ingest", cmd_ingest, "run files through the receive pipeline as if SENDER had delivered them"),
        ("validate", cmd_validate, "the same checks as ingest, storing nothing"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--sender", required=True, help="GLN of the registered party delivering the files")
        p.add_argument("files", nargs="+", metavar="FILE", help="business document or SOAP envelope")
        p.set_defaults(func=func)

    from gateway.datahub_sim.main import configure_parser as configure_sim

    p = sub.add_parser("datahub-sim", help="run the Datahub simulator (SOAP, Messages.wsdl) for tests and sandboxes")
    configure_sim(p)
    p.set_defaults(func=cmd_datahub_sim)

    from gateway.datahub_pull import configure_pull_parser, main_pull

    p = sub.add_parser("datahub-pull", help="pull from Datahub: peek, persist through the pipeline, dequeue")
    configure_pull_parser(p)
    p.set_defaults(func=main_pull)

    from gateway.cli_rating import register as register_rating

    register_rating(sub)

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
