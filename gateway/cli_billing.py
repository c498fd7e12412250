"""`gateway bill|invoices|customers …`: the invoicing commands (registered into gateway.cli).

A run that completes exits 0, also when it held some invoices (the report lists them with the reason); bad
input ends with one line on stderr and status 2; a run that fails with status 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from datetime import date
from typing import Any

from gateway.config import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _guarded(fn: Handler) -> Handler:
    def run(args: argparse.Namespace, settings: Settings) -> int:
        from sqlalchemy.exc import SQLAlchemyError

        from gateway.billing.errors import BillingInputError
        from gateway.rating.errors import RatingInputError

        try:
            return fn(args, settings)
        except (BillingInputError, RatingInputError) as error:
            print(f"gateway: {error}", file=sys.stderr)
            return 2
        except SQLAlchemyError as error:
            print(f"gateway: database error ({type(error).__name__}); is the schema migrated? "
                  "run `gateway migrate`", file=sys.stderr)
            return 1
        except Exception as error:  # the run itself failed: one line, the details in the log (-v)
            logging.getLogger("gateway.billing").debug("command failed", exc_info=True)
            print(f"gateway: {fn.__name__.removeprefix('cmd_').replace('_', ' ')} failed: "
                  f"{type(error).__name__}: {error}", file=sys.stderr)
            return 1

    run.__name__ = fn.__name__
    return run


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


class _Bar:
    """A progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self) -> None:
        self.shown = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.shown or total == 0:
            return
        width = 30
        filled = width * done // total
        sys.stderr.write(f"\rbilling [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _print_report(report: dict[str, Any]) -> None:
    mode = " (dry run: nothing numbered or stored)" if report["dry_run"] else ""
    print(f"billing run {report['period']}{' for ' + report['entity'] if report['entity'] else ''}{mode}")
    for entity, s in report["summary"].items():
        print(f"  {entity:<14} {s['invoices']:>6} invoice(s)  {s['total']:>14} EUR incl. VAT")
    print(f"  rated now: {report['rated_now']}, already billed: {report['already_billed']}, "
          f"held: {len(report['held'])}")
    for item in report["invoiced"][:50]:
        number = item["number"] or "(draft)"
        print(f"  invoiced  {item['entity']:<13} {number:<12} {item['customer'][:28]:<28} {item['total']:>11} EUR "
              f"due {item['due_date']}{'  FINAL' if item['final'] else ''}")
    if len(report["invoiced"]) > 50:
        print(f"  … and {len(report['invoiced']) - 50} more (--json lists all)")
    for hold in report["held"]:
        where = " ".join(str(x) for x in (hold["entity"], hold["accounting_point"], hold["period_start"]) if x)
        print(f"  held      {where}: {hold['reason']}")


def cmd_bill(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.billing.runs import bill, parse_period
    from gateway.store.db import make_engine

    report = bill(make_engine(settings.database_url), parse_period(args.period), entity=args.entity,
                  dry_run=args.dry_run, invoice_date=args.invoice_date, progress=_Bar())
    data = report.to_json()
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        _print_report(data)
    return 0


def cmd_invoices_export(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.billing.export import export_documents
    from gateway.billing.runs import parse_period
    from gateway.store.db import make_engine

    period = parse_period(args.period) if args.period else None
    written = export_documents(make_engine(settings.database_url), args.format, args.out, period=period,
                               entity=args.entity)
    print(f"{len(written)} file(s) written to {args.out}")
    return 0


def cmd_invoices_list(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.orm import Session

    from gateway.billing.export import invoices
    from gateway.billing.runs import parse_period
    from gateway.store.db import make_engine

    period = parse_period(args.period) if args.period else None
    with Session(make_engine(settings.database_url)) as session:
        rows = [{"id": r.id, "entity": r.entity_id, "kind": r.kind, "number": r.number, "customer_id": r.customer_id,
                 "invoice_date": r.invoice_date.isoformat(), "due_date": r.due_date.isoformat(),
                 "total": r.total, "reference": r.reference, "status": r.status,
                 "payment_status": r.payment_status, "original_invoice_id": r.original_invoice_id}
                for r in invoices(session, period, args.entity)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['entity']:<13} {r['number']:<12} {r['kind']:<11} customer {r['customer_id']:<6} "
              f"{r['total']:>11} EUR due {r['due_date']}  {r['status']}/{r['payment_status']}")
    return 0


def cmd_customers_add(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.orm import Session

    from gateway.billing.core.model import Address, CustomerType
    from gateway.billing.customers import OWN, CustomerData, add_own_customer, new_own_key
    from gateway.store.db import make_engine

    data = CustomerData(
        key=new_own_key(args.customer_number), source=OWN, name=args.name,
        customer_type=CustomerType(args.type), address=Address(args.street, args.postcode, args.city, args.country),
        business_id=args.business_id, language=args.language, channel=args.channel,
        e_invoice_address=args.e_invoice_address, e_invoice_operator=args.e_invoice_operator, email=args.email,
    )
    with Session(make_engine(settings.database_url)) as session, session.begin():
        row, changed = add_own_customer(session, data)
        state = "stored" if changed else "unchanged"
        print(f"customer {row.id} ({row.name}) {state}; tie it to a heat point with "
              f"`gateway products assign GSRN --product CODE --from DATE --customer {row.id}`")
    return 0


def cmd_customers_list(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.orm import Session

    from gateway.billing.customers import list_customers
    from gateway.store.db import make_engine

    with Session(make_engine(settings.database_url)) as session:
        rows: list[dict[str, Any]] = [{"id": r.id, "key": r.customer_key if r.source == "own" else "datahub",
                 "name": r.name,
                 "type": r.customer_type, "business_id": r.business_id,
                 "address": ", ".join(x for x in (r.street, f"{r.postcode or ''} {r.city or ''}".strip()) if x),
                 "channel": r.channel} for r in list_customers(session)]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for r in rows:
        print(f"{r['id']:>6}  {r['type']:<9} {r['name'][:30]:<30} {r['address'][:40]:<40} {r['channel']}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("bill", help="run the month's billing: one invoice per customer and legal entity")
    p.add_argument("--period", required=True, metavar="YYYY-MM", help="the month to bill")
    p.add_argument("--entity", metavar="ID", help="only this legal entity (default: every entity that invoices)")
    p.add_argument("--dry-run", action="store_true", help="preview the invoices without numbering or storing them")
    p.add_argument("--json", action="store_true", help="the run report as JSON")
    p.add_argument("--invoice-date", type=_day, metavar="DATE", help="invoice date (default: today, Helsinki)")
    p.set_defaults(func=_guarded(cmd_bill))

    invoices = subparsers.add_parser("invoices", help="issued invoices and credit notes").add_subparsers(
        dest="invoices_command", required=True)
    p = invoices.add_parser("export", help="write one file per invoice and credit note: <entity>-<number>.<ext>")
    p.add_argument("--format", required=True, choices=["finvoice", "pdf", "json"])
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--period", metavar="YYYY-MM")
    p.add_argument("--entity", metavar="ID")
    p.set_defaults(func=_guarded(cmd_invoices_export))
    p = invoices.add_parser("list", help="list invoices and credit notes")
    p.add_argument("--period", metavar="YYYY-MM")
    p.add_argument("--entity", metavar="ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guarded(cmd_invoices_list))

    customers = subparsers.add_parser("customers", help="billed customers").add_subparsers(
        dest="customers_command", required=True)
    p = customers.add_parser("add", help="add (or update) a customer without Datahub data, e.g. district heating")
    p.add_argument("--name", required=True)
    p.add_argument("--type", choices=["consumer", "business"], default="consumer")
    p.add_argument("--business-id", help="Y-tunnus of a business customer (never a personal identity code)")
    p.add_argument("--street", required=True)
    p.add_argument("--postcode", required=True)
    p.add_argument("--city", required=True)
    p.add_argument("--country", default="FI")
    p.add_argument("--language", default="fi")
    p.add_argument("--channel", default="paper", help="paper | e_invoice | email | direct_payment")
    p.add_argument("--e-invoice-address")
    p.add_argument("--e-invoice-operator")
    p.add_argument("--email")
    p.add_argument("--customer-number", help="your own customer number: adding it again updates that customer")
    p.set_defaults(func=_guarded(cmd_customers_add))
    p = customers.add_parser("list", help="list customers")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guarded(cmd_customers_list))
