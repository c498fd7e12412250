"""Bank files: importing and allocating a generated camt.054.001.02 against the bare parse-and-validate it is made
of, measured in the same run.

Baseline: ``lxml.etree.iterparse`` with the compiled official XSD over the same file, dropping each ``Ntry``
(parsing and validating alone). Measured:

* ``BankFile.validate()`` — format recognition, the same streaming validation, and mapping every ``Ntry`` to a
  ``BankEntry`` (references, remittance parts, dates, amounts);
* ``gateway.payments.importing.import_bank_file`` — the whole import on each backend against as many open
  invoices as the file has entries (not timed: storing the invoices): the file archived, entries looked up
  in bulk by reference, allocated, stored (COPY on PostgreSQL), invoices' paid amounts and statuses written,
  and a provider payment report queued through the outbox for every payment. Target (issue 13): ≥ 25 % of
  the baseline's entries per second on PostgreSQL with 100,000 entries.

The file: every entry pays its own invoice; one in ten gives the reference only in the free text, one in
twenty pays half, one in fifty carries a reference with a wrong check digit (unmatched), one in a hundred pays
5 € too much (customer credit for the next invoice).

    python -m bench.bench_payments [--entries N]
"""

from __future__ import annotations

import argparse
from datetime import date
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory

from lxml import etree
from sqlalchemy.orm import Session

from bench.common import Timer, backends, fresh_database, print_table
from gateway.billing.core.reference import national_reference, rf_reference
from gateway.payments.bank_samples import SampleEntry, SamplePart, write_camt054
from gateway.payments.bankfiles import BankFile
from gateway.payments.importing import import_bank_file
from gateway.rating.catalogues import load_catalogue_file
from gateway.store.billing_tables import BillingCustomerRow, InvoiceRow
from gateway.store.db import make_engine
from gateway.store.migrate import upgrade
from gateway.store.queries import insert_rows, insert_rows_returning_ids
from gateway.xml.schemas import default_registry
from mappings.camt054 import NAMESPACE, ROOT
from outbox.types import utcnow

CATALOGUE = Path(__file__).resolve().parent.parent / "catalogue" / "demo.toml"
IBAN = "FI2112345600000785"  # the demo catalogue's retail entity
DUE = date(2026, 4, 16)
PAID = date(2026, 4, 14)
CUSTOMERS_PER_INVOICE = 10

NTRY = f"{{{NAMESPACE}}}Ntry"


def number(i: int) -> str:
    return f"10{i + 1:07d}"


def total(i: int) -> Decimal:
    return Decimal(40 + i % 97) + Decimal(i % 100) / 100


def generate(path: Path, entries: int) -> None:
    """The file described in the module's docstring; entry i pays invoice i."""
    def entry(i: int) -> SampleEntry:
        reference, amount = national_reference(number(i)), total(i)
        if i % 50 == 3:
            bad = reference[:-1] + str((int(reference[-1]) + 1) % 10)
            return SampleEntry(f"E{i:010d}", amount, PAID, parts=[SamplePart(bad)])
        if i % 100 == 7:
            amount += 5
        elif i % 20 == 5:
            amount = (amount / 2).quantize(Decimal("0.01"))
        if i % 10 == 2:
            return SampleEntry(f"E{i:010d}", amount, PAID, unstructured=[f"sähkö viite {reference}"])
        return SampleEntry(f"E{i:010d}", amount, PAID, parts=[SamplePart(reference)])

    with path.open("wb") as out:
        write_camt054(out, IBAN, (entry(i) for i in range(entries)))


def store_invoices(url: str, count: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    load_catalogue_file(engine, CATALOGUE)
    now = utcnow()
    with Session(engine) as session, session.begin():
        customers = insert_rows_returning_ids(session, BillingCustomerRow.__table__, [  # type: ignore[attr-defined]
            {"customer_key": f"bench:{c}", "source": "own", "name": f"Asiakas {c}", "customer_type": "consumer",
             "business_id": None, "street": "Kotikatu 1", "postcode": "00100", "city": "Helsinki", "country": "FI",
             "language": None, "channel": "paper", "e_invoice_address": None, "e_invoice_operator": None,
             "email": None, "created_at": now, "updated_at": now}
            for c in range(count // CUSTOMERS_PER_INVOICE + 1)])
        rows = []
        for i in range(count):
            reference, amount = national_reference(number(i)), total(i)
            rows.append({
                "entity_id": "retail", "kind": "invoice", "number": number(i), "sequence": i + 1, "status": "sent",
                "payment_status": "unpaid", "customer_id": customers[i // CUSTOMERS_PER_INVOICE],
                "customer_type": "consumer", "channel": "paper", "period_start": date(2026, 3, 1),
                "period_end": date(2026, 4, 1), "invoice_date": date(2026, 4, 2), "due_date": DUE,
                "reference": reference, "reference_rf": rf_reference(reference), "currency": "EUR",
                "total_excl_vat": f"{amount:.2f}", "total_vat": "0.00", "total": f"{amount:.2f}",
                "paid_amount": "0.00", "original_invoice_id": None, "final": False, "reason": None, "barcode": None,
                "document": {}, "finvoice": b"", "finvoice_sha256": "0" * 64, "run_id": None, "created_at": now,
                "issued_at": now, "released_at": now, "sent_at": now})
            if len(rows) == 20_000:
                insert_rows(session, InvoiceRow.__table__, rows)  # type: ignore[attr-defined]
                rows = []
        insert_rows(session, InvoiceRow.__table__, rows)  # type: ignore[attr-defined]
    engine.dispose()


def parse_and_validate(path: Path) -> int:
    count = 0
    with default_registry().entry_for(NAMESPACE, ROOT).validator() as schema, path.open("rb") as source:
        for _, element in etree.iterparse(source, events=("end",), tag=NTRY, schema=schema, resolve_entities=False,
                                          no_network=True):
            count += 1
            element.clear()
            parent = element.getparent()
            while element.getprevious() is not None and parent is not None:
                del parent[0]
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append",
                        help="default: both when PostgreSQL is configured")
    args = parser.parse_args()
    rows = []
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "camt054.xml"
        generate(path, args.entries)
        size_mb = path.stat().st_size / 1e6
        parse_and_validate(path)  # warm: schema compiled, file in the page cache
        with Timer() as baseline:
            assert parse_and_validate(path) == args.entries
        base_rate = args.entries / baseline.seconds
        rows.append(["parse + validate (baseline)", "-", f"{baseline.seconds:.2f}", f"{base_rate:,.0f}", "1.00"])
        with Timer() as mapped:
            summary = BankFile.from_path(path).validate()
        assert summary.entries == args.entries
        rows.append(["parse + validate + map to BankEntry", "-", f"{mapped.seconds:.2f}",
                     f"{args.entries / mapped.seconds:,.0f}", f"{args.entries / mapped.seconds / base_rate:.2f}"])
        data = path.read_bytes()
        for backend in args.backend or backends():
            with fresh_database(backend) as url:
                store_invoices(url, args.entries)
                engine = make_engine(url)
                with Timer() as imported:
                    result = import_bank_file(engine, path.name, data)
                engine.dispose()
            assert result.entries == args.entries and result.unmatched == args.entries // 50 + (
                1 if args.entries % 50 > 3 else 0), result
            rate = args.entries / imported.seconds
            rows.append([f"import + allocate ({result.allocated:,} allocated, {result.unmatched:,} unmatched)",
                         backend, f"{imported.seconds:.2f}", f"{rate:,.0f}", f"{rate / base_rate:.2f}"])
        with Timer() as again:  # the baseline once more: the machine is shared, so say how much it moved
            parse_and_validate(path)
    print(f"camt.054.001.02 with {args.entries:,} entries, {size_mb:.1f} MB, against {args.entries:,} open invoices; "
          f"baseline again at the end: {again.seconds:.2f} s (numbers on a shared machine are noisy)")
    print_table(["what", "backend", "seconds", "entries/s", "ratio to baseline"], rows)


if __name__ == "__main__":
    main()
