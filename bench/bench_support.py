"""Message search at scale on PostgreSQL: p50 / p99 of the support log's common queries over an archive of N
messages (default 1,000,000), against a primary-key lookup measured in the same run.

The archive is written in bulk with COPY (not through the pipeline): raw bodies, registry rows, one transaction
and one hourly metering series per message, spread over a year, 50 senders and N/5 accounting points, with some
rejected and parked messages, and recorded ratings that list their series, for the lineage query; then invoices
(N/10, four lines each, released over the year) of which those of the sampled ratings bill them, for the full
lineage of one invoice: its lines, their rating, the rating's metering versions and their messages.

    python -m bench.bench_support [--messages 1000000] [--repeat 200]

Needs GATEWAY_BENCH_POSTGRES_URL (or GATEWAY_TEST_POSTGRES_URL). Target: p99 < 100 ms for every query.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bench.common import POSTGRES_URL, fresh_database, print_table
from gateway.queries import invoices, lineage
from gateway.queries.messages import MessageFilter, search_messages
from gateway.store.db import make_engine
from gateway.store.migrate import upgrade
from gateway.store.tables import MessageRecord
from mappings.samples import gsrn

START = datetime(2025, 6, 1, tzinfo=UTC)
SENDERS = [f"64300000{n:04d}" for n in range(50)]  # 12 digits; the check digit does not matter for search
STATUS = ["accepted"] * 95 + ["rejected"] * 3 + ["parked"] + ["partially_accepted"]
BODY = zlib.compress(b"<EnergyTimeSeriesMessage>" + b" " * 400 + b"</EnergyTimeSeriesMessage>")
VALUES = np.arange(24, dtype="<i8").tobytes()
QUALITY = bytes(24)


def _copy(connection: Any, table: str, columns: list[str], rows: Any) -> None:
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def generate(url: str, n: int, seed: int = 7) -> dict[str, Any]:
    """Fill the archive; returns samples to query with."""
    rng = random.Random(seed)
    points = max(n // 5, 1)
    engine = make_engine(url)
    upgrade(engine)
    raw = engine.raw_connection()
    connection = raw.driver_connection
    started = time.perf_counter()
    seconds = 365 * 86400
    at = [START + timedelta(seconds=rng.randrange(seconds)) for _ in range(n)]
    at.sort()
    point_of = [rng.randrange(points) for _ in range(n)]
    sender_of = [rng.randrange(len(SENDERS)) for _ in range(n)]
    status_of = [rng.choice(STATUS) for _ in range(n)]
    _copy(connection, "raw_message", ["id", "sha256", "size", "body", "channel", "authenticated_party", "received_at"],
          ((i + 1, f"{i:064x}", 430, BODY, "datahub", SENDERS[sender_of[i]], at[i]) for i in range(n)))
    _copy(connection, "message_registry", [
        "id", "sender_gln", "message_id", "document_type", "business_process", "raw_id", "sha256", "channel",
        "status", "level", "reason_code", "errors", "transactions", "ack_message_id", "received_at", "updated_at"],
        ((i + 1, SENDERS[sender_of[i]], f"msg-{i:010d}", "E66", "DH-211", i + 1, f"{i:064x}", "datahub",
          status_of[i], "event" if status_of[i] != "accepted" else None,
          "BA02" if status_of[i] == "rejected" else "BA01", None, 1, None, at[i], at[i]) for i in range(n)))
    _copy(connection, "transaction_registry", [
        "id", "sender_gln", "transaction_id", "message_pk", "accounting_point", "status", "errors"],
        ((i + 1, SENDERS[sender_of[i]], f"txn-{i:010d}", i + 1, gsrn(point_of[i] + 1),
          "accepted" if status_of[i] != "rejected" else "rejected", None) for i in range(n)))
    day_of = [(a - START).days for a in at]
    stored = [i for i in range(n) if status_of[i] in ("accepted", "partially_accepted")]
    _copy(connection, "metering_series", [
        "id", "accounting_point", "product", "unit", "resolution", "period_start", "period_end", "version",
        "positions", "values", "quality", "transaction_id", "message_pk", "received_at"],
        ((k + 1, gsrn(point_of[i] + 1), "8716867000030", "kWh", "PT1H",
          START + timedelta(days=day_of[i], hours=-2), START + timedelta(days=day_of[i] + 1, hours=-2),
          1 + k, 24, VALUES, QUALITY, f"txn-{i:010d}", i + 1, at[i]) for k, i in enumerate(stored)))
    # Ratings of the lineage sample's points: each lists the point's series of its month.
    samples = rng.sample(stored, min(200, len(stored)))
    series_of_point: dict[int, list[tuple[int, int]]] = {}
    for k, i in enumerate(stored):
        series_of_point.setdefault(point_of[i], []).append((k + 1, day_of[i]))
    ratings: dict[tuple[str, date], tuple[str, date, date, list[list[int]]]] = {}
    for i in samples:
        month = (START + timedelta(days=day_of[i])).date().replace(day=1)
        nxt = (month + timedelta(days=32)).replace(day=1)
        ids = [[sid, 1] for sid, d in series_of_point[point_of[i]]
               if month <= (START + timedelta(days=d)).date() < nxt]
        ratings[(gsrn(point_of[i] + 1), month)] = (gsrn(point_of[i] + 1), month, nxt, ids)

    _copy(connection, "rating_result", [
        "id", "accounting_point", "period_start", "period_end", "revision", "lines", "delta", "total", "delta_total",
        "inputs", "cause", "created_at"],
        ((r + 1, point, first, end, 1, "[]", "[]", "0.00", "0.00", json.dumps({"metering": ids}), "bench",
          START) for r, (point, first, end, ids) in enumerate(ratings.values())))
    invoice_ids = _invoices(connection, rng, n, points, list(ratings.values()))
    for table in ("raw_message", "message_registry", "transaction_registry", "metering_series", "rating_result",
                  "billing_customer", "invoice", "invoice_line"):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    connection.commit()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.commit()
    raw.close()
    engine.dispose()
    return {
        "seconds": time.perf_counter() - started,
        "points": [gsrn(point_of[i] + 1) for i in rng.sample(range(n), 500)],
        "message_ids": [f"msg-{i:010d}" for i in rng.sample(range(n), 500)],
        "days": [START.date() + timedelta(days=rng.randrange(365)) for _ in range(500)],
        "lineage": [f"in-{i + 1}" for i in samples],
        "pks": [rng.randrange(1, n + 1) for _ in range(500)],
        "invoices": invoice_ids,
        "references": [_reference(rng.randrange(1, max(n // 10, len(ratings)) + 1)) for _ in range(500)],
    }


def _reference(sequence: int) -> str:
    from gateway.billing.core.numbers import invoice_references

    return invoice_references(f"10{sequence:07d}")[0]


LINES_PER_INVOICE = 4
FINVOICE = b"<Finvoice Version=\"3.0\"/>"  # the bytes are not read by the queries measured


def _invoices(connection: Any, rng: random.Random, n: int, points: int,
              ratings: list[tuple[str, date, date, list[list[int]]]]) -> list[int]:
    """N/10 released invoices of one entity with four lines each; the first ones bill the sampled ratings (so
    their lineage reaches metering versions and messages). Returns the ids of those."""
    count = max(n // 10, len(ratings))
    customers = max(points // 2, 1)
    _copy(connection, "billing_customer", [
        "id", "customer_key", "source", "name", "customer_type", "street", "postcode", "city", "country", "channel",
        "created_at", "updated_at"],
        ((c + 1, f"bench:{c}", "own", f"Asiakas {c}", "consumer", "Katu 1", "00100", "Helsinki", "FI", "paper",
          START, START) for c in range(customers)))
    released = sorted(START + timedelta(seconds=rng.randrange(365 * 86400)) for _ in range(count))
    document = json.dumps({"format": "bench"})

    def invoice_rows() -> Any:
        for k in range(count):
            sequence = k + 1
            national = _reference(sequence)
            month = released[k].date().replace(day=1)
            yield (sequence, "retail", "invoice", f"10{sequence:07d}", sequence, "issued", "unpaid",
                   rng.randrange(customers) + 1, "consumer", "paper", month, (month + timedelta(days=32)).replace(
                       day=1), released[k].date(), released[k].date() + timedelta(days=14), national, f"RF00{national}",
                   "EUR", "100.00", "25.50", "125.50", "0.00", False, document, FINVOICE, "0" * 64, released[k],
                   released[k], released[k])

    _copy(connection, "invoice", [
        "id", "entity_id", "kind", "number", "sequence", "status", "payment_status", "customer_id", "customer_type",
        "channel", "period_start", "period_end", "invoice_date", "due_date", "reference", "reference_rf", "currency",
        "total_excl_vat", "total_vat", "total", "paid_amount", "final", "document", "finvoice", "finvoice_sha256",
        "created_at", "issued_at", "released_at"], invoice_rows())

    def line_rows() -> Any:
        for k in range(count):
            rated = k < len(ratings)
            point = ratings[k][0] if rated else gsrn(rng.randrange(points) + 1)
            for position in range(1, LINES_PER_INVOICE + 1):
                yield (k * LINES_PER_INVOICE + position, k + 1, position, f"line {position}", point, "EM-KIINTEA",
                       "energy", "100.000", "kWh", "0.25", "25.00", "25.5", "electricity_sales", "[]",
                       k + 1 if rated else None, 1 if rated else None, position - 1 if rated else None)

    _copy(connection, "invoice_line", [
        "id", "invoice_id", "position", "description", "accounting_point", "product_code", "component", "quantity",
        "unit", "unit_price", "amount", "vat_rate", "vat_kind", "flags", "rating_result_id", "rating_revision",
        "priced_line_index"], line_rows())
    return list(range(1, len(ratings) + 1))


def _measure(session: Session, repeat: int, query: Callable[[int], object]) -> tuple[float, float]:
    query(0)  # warm the plan cache
    times = []
    for k in range(repeat):
        started = time.perf_counter()
        query(k)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def run(n: int, repeat: int) -> None:
    if not POSTGRES_URL:
        raise SystemExit("set GATEWAY_BENCH_POSTGRES_URL (or GATEWAY_TEST_POSTGRES_URL)")
    with fresh_database("postgresql") as url:
        data = generate(url, n)
        print(f"archive: {n:,} messages written by COPY in {data['seconds']:.1f} s")
        engine = make_engine(url)
        from gateway.domain.periods import local_midnight_utc

        def day_filter(k: int) -> MessageFilter:
            day: date = data["days"][k % 500]
            return MessageFilter(party=SENDERS[k % len(SENDERS)], since=local_midnight_utc(day),
                                 until=local_midnight_utc(day + timedelta(days=1)))

        with Session(engine) as s:
            deep = _cursor_of_page(s, 20)
            queries: list[tuple[str, Callable[[int], object]]] = [
                ("baseline: registry row by primary key",
                 lambda k: s.execute(select(MessageRecord).where(MessageRecord.id == data["pks"][k % 500])).all()),
                ("by GSRN (first page of 50)",
                 lambda k: search_messages(s, MessageFilter(gsrn=data["points"][k % 500]), limit=50)),
                ("by message id",
                 lambda k: search_messages(s, MessageFilter(message_id=data["message_ids"][k % 500]), limit=50)),
                ("by party + day (first page of 50)", lambda k: search_messages(s, day_filter(k), limit=50)),
                ("by status rejected (first page of 50)",
                 lambda k: search_messages(s, MessageFilter(status="rejected"), limit=50)),
                ("by status rejected, 20th page (keyset cursor)",
                 lambda k: search_messages(s, MessageFilter(status="rejected"), limit=50, cursor=deep)),
                ("full lineage of one message (to ratings and invoices)", lambda k: lineage.downstream(
                    s, lineage.root_node(s, "message", data["lineage"][k % len(data["lineage"])]))),  # type: ignore[arg-type]
                ("full lineage of one invoice (to its messages)", lambda k: _invoice_lineage(
                    s, data["invoices"][k % len(data["invoices"])])),
                ("invoice by payment reference", lambda k: invoices.list_invoices(
                    s, invoices.InvoiceFilter(reference=data["references"][k % 500]), limit=50)),
            ]
            results = [(name, *_measure(s, repeat, q)) for name, q in queries]
            s.execute(text("SELECT 1"))
        engine.dispose()
    base_p50, base_p99 = results[0][1], results[0][2]
    rows = []
    for name, p50, p99 in results:
        ok = "" if name.startswith("baseline") else (" ✓" if p99 < 100 else " ✗")
        rows.append([name, f"{p50:.2f}", f"{p99:.2f}{ok}", f"{p50 / base_p50:.1f}×", f"{p99 / base_p99:.1f}×"])
    print_table(["query", "p50 ms", "p99 ms (target < 100)", "p50 / baseline", "p99 / baseline"], rows)


def _invoice_lineage(session: Session, invoice_id: int) -> int:
    root = lineage.root_node(session, "invoice", str(invoice_id))
    assert root is not None
    graph = lineage.upstream(session, root)
    assert graph.message_ids, "the invoice's lineage reaches its messages"
    return len(graph.nodes)


def _cursor_of_page(session: Session, page_number: int) -> str | None:
    """The cursor that asks for page `page_number` of the rejected messages (None if there are fewer pages)."""
    cursor = None
    for _ in range(page_number - 1):
        cursor = search_messages(session, MessageFilter(status="rejected"), limit=50, cursor=cursor).next_cursor
        if cursor is None:
            return None
    return cursor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    run(args.messages, args.repeat)


if __name__ == "__main__":
    main()
