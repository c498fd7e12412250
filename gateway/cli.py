"""`gateway …`: the command line of the Datahub gateway.

How commands are built (every command, including those of other modules):

* A command module has a function ``register(commands: Commands)`` and is named once in ``COMMAND_MODULES``
  below — one line per module::

      def register(commands: Commands) -> None:
          p = commands.add("bill", cmd_bill, help="rate and invoice a month")            # a plain command
          p.add_argument("--month", required=True)
          runs = commands.group("invoices", help="issued invoices")                      # `gateway invoices …`
          runs.add("list", cmd_invoices_list, help="list invoices", database=Database.MIGRATED)
          commands.add("provider-sim", "gateway.payments.sim:main", help="…",            # code imported only
                       configure="gateway.payments.sim:configure_parser",                 # when it runs
                       database=Database.NONE)

  A handler is ``handler(args, settings) -> exit status``.
* **Lazy imports.** `gateway --help` imports every command module, so a command module imports only the
  standard library and `gateway.cli_support` at module level; everything else is imported inside the handler,
  or named as a ``"module:function"`` string for ``run`` / ``configure`` (then even the command's arguments are
  defined only when it is on the command line). `tests/integration/test_cli_doors.py` fails when `--help`
  loads SQLAlchemy, lxml, zeep, aiohttp or NumPy.
* **The database check.** Before the handler runs, ``database=`` is checked (default ``MIGRATED``): a misspelt
  URL, an unreachable server or a schema not at this code's head is one line telling what to do, exit 2.
  ``REACHABLE`` only connects (migrate, demo), ``NONE`` skips it (simulators), ``ADVISORY`` only warns (serve).
  Handlers open the database with ``make_engine(settings.database_url)`` from this module
  (`cli_support.engine_for`): the check's connection is reused and disposed of when the command ends.
* **Errors.** Raise ``CliError("what is wrong and what to do", status)`` for problems the user can fix. Anything
  else that escapes a handler is still one line (database errors say so, others are "internal error"); the
  traceback only with ``--verbose``, and log records are single lines too. A test runs every command found in
  the parser against an unmigrated and an unreachable database and looks for tracebacks.
* Modules written for the older ``register(subparsers)`` form (``add_parser`` + ``set_defaults(func=…)``) keep
  working through ``Commands.add_parser``, with the same error handling and the ``MIGRATED`` check.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, NamedTuple

from gateway.cli_support import (
    CliError,
    Commands,
    Database,
    configure_logging,
    non_negative_float,
    port,
    positive_int,
    run,
    schema_problem,
)
from gateway.cli_support import engine_for as make_engine
from gateway.runtime import settled_heap

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.receive import Receiver

# Files stored per group commit by `gateway ingest` (the receiver cuts runs further where it must).
_INGEST_BATCH = 500
_INGEST_BATCH_BYTES = 64 * 1024 * 1024

# Modules whose register(commands) adds commands: one line each.
COMMAND_MODULES = (
    "gateway.cli_rating",
    "gateway.cli_users",
    "gateway.cli_billing",
    "gateway.cli_payments",
)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from alembic.util import CommandError

    from gateway.store.migrate import current_revision, upgrade
    from gateway.store.revisions import known_revisions

    engine = make_engine(settings.database_url)
    before = current_revision(engine)
    try:
        upgrade(engine, args.revision)
    except CommandError:
        if args.revision in known_revisions():
            raise
        raise CliError(f"unknown revision {args.revision!r}: give `head` (the default) or one of "
                       f"{', '.join(sorted(known_revisions()))}") from None
    after = current_revision(engine)
    print(f"database {engine.url.render_as_string(hide_password=True)}: {before or 'empty'} -> {after}")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.app import serve

    try:
        return serve(settings, host=args.host, port=args.port)
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.bootstrap import build_registry
    from gateway.config import safe_database_url
    from outbox.runner import run_worker
    from outbox.worker import NotSubscribedError, Worker

    engine = make_engine(settings.database_url)
    _require_migrated(engine)
    registry = build_registry(settings, engine)
    unknown = sorted(set(args.topic or ()) - set(registry.topics))
    if unknown:
        raise CliError(f"no handler for topic(s) {', '.join(unknown)}; topics: {', '.join(sorted(registry.topics))}")
    try:
        worker = Worker(engine, registry, settings.outbox, topics=args.topic or None)
        worker.check_subscriptions()
    except (ValueError, NotSubscribedError) as exc:  # a call that can outlast the lease; a stale declaration
        raise CliError(str(exc)) from None
    for signum in (signal.SIGTERM, signal.SIGINT):  # before saying so, so that a stop right after it is graceful
        signal.signal(signum, lambda *_: worker.stop())
    print(f"gateway worker {worker.worker_id} started: topics {', '.join(worker.topics)}; database "
          f"{safe_database_url(settings.database_url)}; stop with Ctrl-C or SIGTERM", flush=True)
    with settled_heap():
        return run_worker(worker)


def cmd_outbox_status(args: argparse.Namespace, settings: Settings) -> int:
    from outbox.admin import format_status, status_report

    report = status_report(make_engine(settings.database_url), limit=args.limit)
    print(json.dumps(report) if args.json else format_status(report))
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


def cmd_outbox_discard(args: argparse.Namespace, settings: Settings) -> int:
    from outbox.admin import discard

    count = discard(make_engine(settings.database_url), args.ids)
    print(f"discarded {count} dead letter(s)")
    if count < len(args.ids):
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
    from gateway.parties import PartyError, register_party

    engine = make_engine(settings.database_url)
    try:
        party, change = register_party(engine, args.gln, roles=args.role, name=args.name or "", own=args.own,
                                       token=args.token, cert_fingerprint=args.cert_fingerprint,
                                       acts_for=args.acts_for or ())
    except PartyError as exc:
        print(f"gateway parties add: {exc}", file=sys.stderr)
        return 2
    print(f"party {party.gln} ({party.name or 'no name'}): roles {', '.join(party.roles)}"
          f"{', one of ours' if party.own else ''} — {change.describe()}")
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

    if settings.config_path is None:
        raise CliError("parties load reads [[parties]] from the configuration file: give --config FILE or set "
                       "GATEWAY_CONFIG (gateway.example.toml shows the format)")
    engine = make_engine(settings.database_url)
    try:
        changes = load_parties_from_config(engine, settings.raw, replace=args.replace)
    except PartyError as exc:
        print(f"gateway parties load: {settings.config_path}: {exc}", file=sys.stderr)
        return 2
    for change in changes:
        print(change.describe())
    added = sum(c.new for c in changes)
    updated = sum(bool(c.changed) for c in changes)
    print(f"{settings.config_path}: {len(changes)} part{'y' if len(changes) == 1 else 'ies'}: {added} added, "
          f"{updated} updated, {len(changes) - added - updated} unchanged")
    return 0


class Unreadable(NamedTuple):
    """A file that is refused before the pipeline sees it (nothing of it is stored)."""

    code: str
    text: str


def _read_documents(paths: Sequence[str], max_bytes: int) -> Iterator[tuple[str, bytes | Unreadable]]:
    """Each file's bytes as they are (a business document or a SOAP envelope around one: the pipeline reads and
    archives either), or why it is not read; one file at a time, so that a day's worth of files never sits in
    memory at once."""
    from gateway.xml.hardened import XML_TOO_LARGE

    for path in paths:
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > max_bytes:
                    yield path, Unreadable(XML_TOO_LARGE, f"{path} is {size} bytes; the limit is {max_bytes} bytes "
                                                          "(GATEWAY_MAX_MESSAGE_BYTES)")
                    continue
                data = fh.read(max_bytes + 1)
        except OSError as exc:
            yield path, Unreadable("CLI.UNREADABLE", f"cannot read {path}: {exc.strerror}")
            continue
        if len(data) > max_bytes:  # grew while we read it, or not a regular file
            yield path, Unreadable(XML_TOO_LARGE, f"{path} is more than {max_bytes} bytes, the limit "
                                                  "(GATEWAY_MAX_MESSAGE_BYTES)")
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
        if isinstance(document, Unreadable):
            flush(batch)
            batch_bytes = 0
            error = {"code": document.code, "text": document.text}
            print(json.dumps({"file": path, "message_id": None, "document_type": None, "result": REJECTED,
                              "reason_code": document.code, "errors": [error]}))
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
    """Refuse to go on unless the schema is at this code's head (commands get this check before they run; this
    is for code paths that open another database)."""
    from sqlalchemy.engine import Engine

    assert isinstance(engine, Engine)
    problem = schema_problem(engine)
    if problem is not None:
        raise CliError(problem)


def register(commands: Commands) -> None:
    """The gateway's own commands."""
    p = commands.add("migrate", cmd_migrate, help="upgrade the database schema (Alembic)",
                     database=Database.REACHABLE)
    p.add_argument("revision", nargs="?", default="head")

    p = commands.add("serve", cmd_serve, help="run the HTTP service (/health, /metrics, SOAP endpoint, API)",
                     database=Database.ADVISORY)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port, default=8080, help="0: any free port (printed at start)")

    p = commands.add("worker", cmd_worker, help="run an outbox worker (start several processes to scale out)")
    p.add_argument("--topic", action="append", help="only these topics (default: all registered)")

    outbox = commands.group("outbox", help="inspect and operate the outbox")
    p = outbox.add("status", cmd_outbox_status,
                   help="deliveries per consumer, oldest pending age, held-back keys, dead letters")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=positive_int, default=20, help="dead letters to list")
    p = outbox.add("replay", cmd_outbox_replay, help="give dead letters a fresh set of attempts")
    p.add_argument("ids", nargs="*", type=int, help="dead letter (delivery) ids, as status lists them")
    p.add_argument("--all-dead", action="store_true")
    p = outbox.add("discard", cmd_outbox_discard, help="give up dead letters: the keys they hold back move on")
    p.add_argument("ids", nargs="+", type=int, help="dead letter (delivery) ids, as status lists them")
    p = outbox.add("purge", cmd_outbox_purge, help="retention: remove (or archive) old processed messages")
    p.add_argument("--older-than-days", type=non_negative_float, default=None)
    p.add_argument("--archive", action="store_true")

    parties = commands.group("parties", help="the registry of market parties")
    p = parties.add("add", cmd_parties_add, help="add or update a party")
    p.add_argument("gln")
    p.add_argument("--role", action="append", required=True, help="DDM, DDQ, MDR, ESC, DH, … (repeatable)")
    p.add_argument("--name")
    p.add_argument("--own", action="store_true", help="one of our own GLNs")
    p.add_argument("--token", help="bearer token the party authenticates with on our SOAP endpoint")
    p.add_argument("--cert-fingerprint", help="SHA-256 fingerprint of the party's client certificate")
    p.add_argument("--acts-for", action="append", help="GLN of a registered juridical sender this party may act for")
    p = parties.add("load", cmd_parties_load, help="add the [[parties]] of the configuration file")
    p.add_argument("--replace", action="store_true",
                   help="also change parties that are registered already (roles, name, token, …)")
    p = parties.add("list", cmd_parties_list, help="list the registered parties")
    p.add_argument("--json", action="store_true")

    for name, func, text in (
        ("ingest", cmd_ingest, "run files through the receive pipeline as if SENDER had delivered them"),
        ("validate", cmd_validate, "the same checks as ingest, storing nothing"),
    ):
        p = commands.add(name, func, help=text)
        p.add_argument("--sender", required=True, help="GLN of the registered party delivering the files")
        p.add_argument("files", nargs="+", metavar="FILE", help="business document or SOAP envelope")

    commands.add("datahub-sim", cmd_datahub_sim, database=Database.NONE,
                 configure="gateway.datahub_sim.main:configure_parser",
                 help="run the Datahub simulator (SOAP, Messages.wsdl) for tests and sandboxes")
    commands.add("datahub-pull", "gateway.datahub_pull:main_pull",
                 configure="gateway.datahub_pull:configure_pull_parser",
                 help="pull from Datahub: peek, persist through the pipeline, dequeue")

    p = commands.add("demo", cmd_demo, help="run the end-to-end demo on the embedded SQLite database",
                     database=Database.REACHABLE)
    p.add_argument("--keep", action="store_true", help="keep the existing demo database")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="Fingrid Datahub gateway and billing core")
    parser.add_argument("--config", help="TOML configuration file (default: $GATEWAY_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, tracebacks of failures")
    commands = Commands.of(parser)
    register(commands)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
