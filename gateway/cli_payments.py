"""`gateway payments|provider|dunning …` and `gateway provider-sim` (registered into gateway.cli). Imports stay
inside the command functions, so `gateway --help` loads neither SQLAlchemy, lxml nor aiohttp for them.

Exit status: 0 done; 2 bad input (a file that is not a bank file, an unknown payment or invoice, an amount
that does not fit) with one line on stderr — an import goes on with the other files and exits 2 at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.cli_support import CliError, Commands, Database
from gateway.config import Settings


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount (e.g. 12.50)") from None
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
        raise argparse.ArgumentTypeError(f"{text!r}: the amount must be positive whole cents")
    return value


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def cmd_provider_sim(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.payments.provider_sim.main import main

    return main(args)


def cmd_payments_import(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from gateway.cli_support import engine_for
    from gateway.payments.bankfiles import BankFileError
    from gateway.payments.importing import import_bank_file
    from gateway.payments.settings import max_bank_file_bytes

    engine = engine_for(settings.database_url)
    limit = max_bank_file_bytes(settings)
    status = 0
    for name in args.files:
        path = Path(name)
        try:
            size = path.stat().st_size
            if size > limit:
                raise BankFileError("BANK.TOO_LARGE", f"the file has {size} bytes; bank files may have at most "
                                                      f"{limit} ([payments] max_bank_file_bytes)")
            data = path.read_bytes()
            result = import_bank_file(engine, name, data, max_bytes=limit)
        except OSError as error:
            print(f"gateway: {name}: cannot read it: {error.strerror}", file=sys.stderr)
            status = 2
            continue
        except BankFileError as error:
            print(f"gateway: {name}: not imported, nothing of it stored: {error}", file=sys.stderr)
            status = 2
            continue
        if args.json:
            print(json.dumps(result.to_json(), separators=(",", ":"), ensure_ascii=False), flush=True)
        else:
            print(f"{name}: {result.format}, {result.entries} entries: {result.allocated} allocated, "
                  f"{result.unmatched} unmatched, {result.already_imported} already imported", flush=True)
    return status


def cmd_payments_unmatched(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.orm import Session

    from gateway.cli_support import engine_for
    from gateway.payments.service import list_unmatched

    with Session(engine_for(settings.database_url)) as session:
        items = list_unmatched(session, include_resolved=args.all)
    if args.json:
        print(json.dumps([{k: item[k] for k in ("id", "amount", "reference", "account", "reason")} for item in items],
                         ensure_ascii=False))
        return 0
    if not items:
        print("no unmatched payments")
    for item in items:
        print(f"{item['id']:>7}  {item['amount']:>12} EUR  {item['received']}  {item['account']:<22} "
              f"{item['reference'] or '-':<26} {item['reason']:<18} {item['payer'] or ''}")
    return 0


def cmd_payments_allocate(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.orm import Session

    from gateway.cli_support import engine_for
    from gateway.payments.service import PaymentInputError, allocate_manually

    try:
        with Session(engine_for(settings.database_url)) as session, session.begin():
            done = allocate_manually(session, args.payment, args.invoice, args.amount, entity=args.entity)
    except PaymentInputError as error:
        raise CliError(str(error)) from None
    print(f"allocated {done.amount} EUR of unmatched payment {args.payment} to invoice {done.invoice_number} "
          f"(now {done.payment_status}); {done.remaining} EUR of the payment left unmatched")
    return 0


def cmd_payments_summary(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.orm import Session

    from gateway.cli_support import engine_for
    from gateway.payments.service import receivables_summary

    with Session(engine_for(settings.database_url)) as session:
        summary = receivables_summary(session)
    if args.json:
        _print_json(summary)
    else:
        print(format_summary(summary))
    return 0


def format_summary(summary: dict[str, Any]) -> str:
    lines = ["invoices by payment status:"]
    for status, s in summary["invoices"].items():
        lines.append(f"  {status:<15} {s['invoices']:>7} invoices  {s['total']:>14} EUR  paid {s['paid']:>14} EUR")
    lines.append(f"bank files {summary['bank_files']}; entries " + ", ".join(
        f"{k} {v}" for k, v in summary["bank_entries"].items()))
    lines.append(f"unmatched queue: {summary['unmatched']['items']} items, {summary['unmatched']['amount']} EUR")
    lines.append("provider jobs: " + (", ".join(f"{k} {v}" for k, v in summary["provider_jobs"].items()) or "none")
                 + "; requests: " + (", ".join(f"{k} {v}" for k, v in summary["provider_requests"].items()) or "none"))
    lines.append("dunning steps: " + (", ".join(f"{k} {v}" for k, v in summary["dunning_steps"].items()) or "none")
                 + "; disconnection tasks: "
                 + (", ".join(f"{k} {v}" for k, v in summary["disconnection_tasks"].items()) or "none"))
    return "\n".join(lines)


def cmd_provider_poll(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.cli_support import engine_for
    from gateway.payments.settings import provider_settings
    from gateway.payments.status_updates import poll_provider

    config = provider_settings(settings)
    if not config.configured:
        raise CliError("no [payment_provider] base_url configured: nothing to poll")
    engine = engine_for(settings.database_url)
    while True:
        report = poll_provider(engine, config)
        if args.json:
            print(json.dumps(report, separators=(",", ":")), flush=True)
        else:
            print(", ".join(f"{account}: {r['stored']} new, {r['duplicates']} already stored"
                            + (f", error: {r['error']}" if r.get("error") else "")
                            for account, r in report.items()) or "no provider accounts configured", flush=True)
        if not args.watch:
            return 1 if any(r.get("error") for r in report.values()) else 0
        time.sleep(args.watch)


def cmd_dunning_run(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.cli_support import engine_for
    from gateway.payments.dunning_run import run_dunning

    report = run_dunning(engine_for(settings.database_url), args.date)
    if args.json:
        _print_json(report.to_json())
    else:
        print(report.text())
    return 0


def cmd_dunning_tasks(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.orm import Session

    from gateway.cli_support import engine_for
    from gateway.payments.dunning_run import list_tasks

    with Session(engine_for(settings.database_url)) as session:
        tasks = list_tasks(session, include_closed=args.all)
    if args.json:
        _print_json(tasks)
        return 0
    if not tasks:
        print("no open disconnection tasks")
    for t in tasks:
        print(f"{t['id']:>6}  {t['status']:<9} earliest {t['earliest']}  customer {t['customer_id']} ({t['entity']}) "
              f"{t['unpaid']} EUR unpaid since {t['oldest_due_date']}: {t['kind']} — {t['detail']}")
    return 0


def cmd_dunning_task_done(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.orm import Session

    from gateway.cli_support import engine_for
    from gateway.payments.dunning_run import complete_task
    from gateway.payments.service import PaymentInputError

    try:
        with Session(engine_for(settings.database_url)) as session, session.begin():
            complete_task(session, args.task, args.date or date.today())
    except PaymentInputError as error:
        raise CliError(str(error)) from None
    print(f"task {args.task} done")
    return 0


def register(commands: Commands) -> None:
    # The simulator stands in for the provider: it needs no database of ours.
    commands.add("provider-sim", cmd_provider_sim, database=Database.NONE,
                 configure="gateway.payments.provider_sim.options:configure_parser",
                 help="run the payment-provider simulator (Ropo-style REST API, webhooks, faults) for tests and "
                      "partner sandboxes")

    payments = commands.group("payments", help="bank payment files, allocation by reference, the unmatched queue")
    p = payments.add("import", cmd_payments_import, help="import camt.054 / KTL bank payment files and allocate them")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one compact JSON object per line per file")
    p = payments.add("unmatched", cmd_payments_unmatched, help="payments waiting for a person, with the reason")
    p.add_argument("--json", action="store_true", help="a JSON list of {id, amount, reference, account, reason}")
    p.add_argument("--all", action="store_true", help="also those allocated or reversed since")
    p = payments.add("allocate", cmd_payments_allocate, help="put an unmatched payment on an invoice by hand")
    p.add_argument("payment", type=int, metavar="PAYMENT", help="the id from `gateway payments unmatched`")
    p.add_argument("--invoice", required=True, metavar="NUMBER", help="the invoice number")
    p.add_argument("--amount", type=_amount, help="default: as much as the payment and the invoice allow")
    p.add_argument("--entity", help="the legal entity, when the payment's account does not tell")
    p = payments.add("summary", cmd_payments_summary, help="invoices by payment status, the queue, provider, dunning")
    p.add_argument("--json", action="store_true")

    provider = commands.group("provider", help="the payment provider (status updates)")
    p = provider.add("poll", cmd_provider_poll, help="fetch the provider's status updates (GET /jobs/statusupdates "
                                                     "until 204) for every configured account")
    p.add_argument("--json", action="store_true", help="one compact JSON object per poll")
    p.add_argument("--watch", type=float, metavar="SECONDS", help="poll again every SECONDS until interrupted")

    dunning = commands.group("dunning", help="reminders, collection, late interest, disconnection tasks")
    p = dunning.add("run", cmd_dunning_run, help="apply the dunning rules to open invoices as of a day (idempotent)")
    p.add_argument("--date", type=_day, required=True, metavar="YYYY-MM-DD")
    p.add_argument("--json", action="store_true")
    p = dunning.add("tasks", cmd_dunning_tasks, help="disconnection-timeline tasks for a person")
    p.add_argument("--json", action="store_true")
    p.add_argument("--all", action="store_true", help="also done and cancelled tasks")
    p = dunning.add("task-done", cmd_dunning_task_done, help="record that a person did a task (moves the timeline on)")
    p.add_argument("task", type=int, metavar="TASK")
    p.add_argument("--date", type=_day, metavar="YYYY-MM-DD", help="the day it was done (default today)")
