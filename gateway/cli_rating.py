"""`gateway prices|products|rate|heat …`: the rating commands (registered into gateway.cli).

Dates on the command line are local days in Europe/Helsinki; a `--to` date is the last day included.
Bad input ends with one line on stderr and exit status 2; a period held for missing data with status 3.
Like every command module, this one imports only the standard library at module level (see gateway/cli.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.cli_support import Commands
from gateway.cli_support import engine_for as make_engine

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.rating.core import PricedLine
    from gateway.rating.service import Rated

Handler = Callable[[argparse.Namespace, "Settings"], int]
HELD = 3


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except ArithmeticError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a decimal number") from None


def _guarded(fn: Handler) -> Handler:
    """One clear line and a status for the rating errors a user can cause or fix (gateway.cli_support handles
    the rest: database, files, internal errors)."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        from gateway.rating.core import PeriodHeldError

        try:
            return fn(args, settings)
        except PeriodHeldError as error:
            print(f"gateway: {error}", file=sys.stderr)
            return HELD
        except (ValueError, KeyError) as error:  # RatingInputError is a ValueError
            message = error.args[0] if isinstance(error, KeyError) and error.args else error
            print(f"gateway: {message}", file=sys.stderr)
            return 2

    run.__name__ = fn.__name__
    return run


def cmd_prices_import(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.rating.prices import import_price_file

    result = import_price_file(make_engine(settings.database_url), args.file, zone=args.zone)
    print(f"{args.file}: {result.intervals} interval(s): {result.new_intervals} new, "
          f"{result.changed_intervals} changed (new version), {result.unchanged_intervals} unchanged")
    return 0


def cmd_products_load(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.rating.catalogues import load_catalogue_file

    row, created = load_catalogue_file(make_engine(settings.database_url), args.file)
    state = "loaded as" if created else "unchanged; still"
    print(f"catalogue {args.file} {state} version {row.id} (sha256 {row.sha256[:12]}…)")
    return 0


def cmd_products_assign(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.orm import Session

    from gateway.rating.assignments import (
        AssignmentSpec,
        assign_product,
        read_assignment_csv,
        unannounced_network_points,
    )
    from gateway.rating.catalogues import active_catalogue
    from gateway.rating.errors import RatingInputError

    if args.file is not None:
        if args.accounting_point or args.product or args.valid_from:
            raise RatingInputError("give either --file or GSRN --product --from, not both")
        try:
            specs = read_assignment_csv(Path(args.file).read_text(encoding="utf-8-sig"))
        except OSError as error:
            raise RatingInputError(f"cannot read {args.file}: {error.strerror}") from None
        source = str(args.file)
    else:
        if not (args.accounting_point and args.product and args.valid_from):
            raise RatingInputError("products assign needs GSRN --product CODE --from DATE (or --file FILE)")
        specs = [AssignmentSpec(
            args.accounting_point, args.product, args.valid_from,
            None if args.valid_to is None else args.valid_to + timedelta(days=1),
            args.main_fuse, args.flow_m3h, args.power_kw, args.customer,
        )]
        source = "cli"
    created = 0
    with Session(make_engine(settings.database_url)) as session, session.begin():
        catalogue = active_catalogue(session).catalogue
        unannounced = unannounced_network_points(session, specs, catalogue) if args.force else []
        for spec in specs:
            created += assign_product(session, spec, catalogue, source, force=args.force)[1]
    for point in unannounced:
        print(f"gateway: warning: accounting point {point} was never announced by an E58; its network product "
              "was assigned anyway (--force)", file=sys.stderr)
    print(f"{created} assignment(s) stored, {len(specs) - created} already present")
    return 0


def cmd_products_list(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.orm import Session

    from gateway.rating.assignments import list_assignments

    with Session(make_engine(settings.database_url)) as session:
        rows = list_assignments(session, args.accounting_point)
        if args.json:
            print(json.dumps([{
                "accounting_point": r.accounting_point, "product_code": r.product_code, "segment": r.segment,
                "valid_from": r.valid_from.isoformat(),
                "last_day": None if r.valid_to is None else (r.valid_to - timedelta(days=1)).isoformat(),
                "main_fuse": r.main_fuse, "contracted_flow_m3h": r.contracted_flow_m3h,
                "contracted_power_kw": r.contracted_power_kw, "customer_id": r.customer_id,
            } for r in rows], indent=2))
            return 0
        print(f"{'accounting point':<18}  {'segment':<16}  {'product':<16}  {'from':<10}  {'to (incl.)':<10}  extra")
        for r in rows:
            last = "" if r.valid_to is None else (r.valid_to - timedelta(days=1)).isoformat()
            extra = " ".join(f"{k}={v}" for k, v in (("fuse", r.main_fuse), ("flow_m3h", r.contracted_flow_m3h),
                                                      ("power_kw", r.contracted_power_kw),
                                                      ("customer", r.customer_id)) if v)
            print(f"{r.accounting_point:<18}  {r.segment:<16}  {r.product_code:<16}  "
                  f"{r.valid_from.isoformat():<10}  {last:<10}  {extra}")
    return 0


def _local(instant: datetime) -> str:
    from gateway.rating.core.calendar import HELSINKI

    return instant.astimezone(HELSINKI).strftime("%Y-%m-%d %H:%M")


def _print_lines(lines: list[PricedLine]) -> None:
    print(f"{'entity':<12} {'product':<14} {'component':<16} {'from (Helsinki)':<16}  {'to':<16} "
          f"{'quantity':>14} {'unit':<4} {'unit price':>12} {'amount €':>11} {'VAT %':>6}  flags")
    for ln in lines:
        flags = ",".join(ln.flags)
        if ln.days is not None:
            flags = ",".join(filter(None, [f"{ln.days}/{ln.days_in_month} d", flags]))
        print(f"{ln.legal_entity:<12} {ln.product_code:<14} {ln.component:<16} "
              f"{_local(ln.period_start):<16}  {_local(ln.period_end):<16} {ln.quantity:>14.3f} {ln.unit:<4} "
              f"{ln.unit_price:>12} {ln.amount:>11} {ln.vat_rate:>6}  {flags}")
    total = sum((ln.amount for ln in lines), Decimal("0.00"))
    print(f"{'total (VAT 0)':<114} {total:>11}")


def _without_agreement(rated: Rated) -> list[dict[str, str]]:
    return [{"from": first.isoformat(), "to": (end - timedelta(days=1)).isoformat()}
            for first, end in rated.without_sales_agreement]


def cmd_rate(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.orm import Session

    from gateway.rating.errors import RatingInputError
    from gateway.rating.service import line_to_json, rate_and_record, rate_in_session

    if args.to_date < args.from_date:
        raise RatingInputError("--to must not be before --from")
    engine = make_engine(settings.database_url)
    end = args.to_date + timedelta(days=1)
    revision = None
    if args.record:
        rated, recorded = rate_and_record(engine, args.accounting_point, args.from_date, end, cause="cli")
        revision = None if recorded is None else recorded.revision
    else:
        with Session(engine) as session:
            rated = rate_in_session(session, args.accounting_point, args.from_date, end)
    lines = rated.lines
    gaps = _without_agreement(rated)
    for gap in gaps:
        print(f"gateway: warning: accounting point {args.accounting_point} has no sales agreement from "
              f"{gap['from']} to {gap['to']}: those days have network lines only, no retail energy", file=sys.stderr)
    if args.json:
        print(json.dumps({"accounting_point": args.accounting_point, "from": args.from_date.isoformat(),
                          "to": args.to_date.isoformat(), "lines": [line_to_json(ln) for ln in lines],
                          "total": str(sum((ln.amount for ln in lines), Decimal("0.00"))),
                          "without_sales_agreement": gaps,
                          "recorded_revision": revision}, indent=2))
        return 0
    _print_lines(lines)
    if args.record:
        print("recorded as revision " + str(revision) if revision else "recorded rating unchanged (no delta)")
    return 0


def cmd_heat_import(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.rating.heat import import_heat_csv

    stored = import_heat_csv(make_engine(settings.database_url), args.file, args.accounting_point)
    if not stored:
        print(f"{args.accounting_point}: every series equals its stored latest version; nothing stored")
    for s in stored:
        print(f"{s['accounting_point']} {s['start']} … {s['end']} {s['resolution']}: version {s['version']}")
    return 0


def register(commands: Commands) -> None:
    prices = commands.group("prices", help="spot prices")
    p = prices.add("import", _guarded(cmd_prices_import),
                   help="import ENTSO-E day-ahead XML or CSV start_utc,end_utc,eur_per_mwh")
    p.add_argument("file")
    p.add_argument("--zone", default=None, help="bidding zone (CSV default 10YFI-1--------U; filters XML)")

    products = commands.group("products", help="catalogue and product assignments")
    p = products.add("load", _guarded(cmd_products_load),
                     help="load a catalogue file (TOML/YAML, catalogue/README.md); newest is active")
    p.add_argument("file")
    p = products.add("assign", _guarded(cmd_products_assign),
                     help="assign a network or district heating product to an accounting point")
    p.add_argument("accounting_point", nargs="?", metavar="GSRN")
    p.add_argument("--product")
    p.add_argument("--from", dest="valid_from", type=_day, metavar="DATE", help="first day")
    p.add_argument("--to", dest="valid_to", type=_day, metavar="DATE", help="last day (inclusive); default open")
    p.add_argument("--main-fuse", help="network: main fuse, e.g. 3x25A (default: from E58)")
    p.add_argument("--flow-m3h", type=_decimal, help="district heating: contracted water flow m³/h")
    p.add_argument("--power-kw", type=_decimal, help="district heating: contracted power kW")
    p.add_argument("--customer", type=int, metavar="ID",
                   help="district heating: the billed customer (an id from `gateway customers add`)")
    p.add_argument("--file", help="CSV accounting_point,product_code,valid_from,valid_to[,main_fuse,…]")
    p.add_argument("--force", action="store_true",
                   help="assign a network product even to a point no E58 announced (with a warning)")
    p = products.add("list", _guarded(cmd_products_list), help="list product assignments")
    p.add_argument("--accounting-point", metavar="GSRN")
    p.add_argument("--json", action="store_true")

    p = commands.add("rate", _guarded(cmd_rate),
                     help="rate an accounting point over local days and print the priced lines")
    p.add_argument("--accounting-point", required=True, metavar="GSRN")
    p.add_argument("--from", dest="from_date", type=_day, required=True, metavar="DATE")
    p.add_argument("--to", dest="to_date", type=_day, required=True, metavar="DATE", help="last day (inclusive)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--record", action="store_true",
                   help="store the result as the period's rating; later data then produces delta lines")

    heat = commands.group("heat", help="district heating readings")
    p = heat.add("import", _guarded(cmd_heat_import), help="import readings CSV start_utc,end_utc,kwh|mwh[,quality]")
    p.add_argument("file")
    p.add_argument("--accounting-point", required=True, metavar="GSRN")
