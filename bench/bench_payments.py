"""Bank files: reading a generated camt.054.001.02 against the bare parse-and-validate it is made of,
measured in the same run.

Baseline: ``lxml.etree.iterparse`` with the compiled official XSD over the same file, dropping each ``Ntry``
(parsing and validating alone). Measured: ``BankFile.validate()`` — format recognition, the same streaming
validation, and mapping every ``Ntry`` to a ``BankEntry`` (references, remittance parts, dates, amounts).
The import-and-allocate side (PostgreSQL, 100,000 open invoices; issue target ≥ 25 % of the baseline's rate)
comes with the database wiring; this prints the parsing side's rate and ratio so that one has its baseline.

    python -m bench.bench_payments [--entries N]
"""

from __future__ import annotations

import argparse
from datetime import date
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory

from lxml import etree

from bench.common import Timer, print_table
from gateway.billing.core.reference import national_reference
from gateway.payments.bank_samples import SampleEntry, SamplePart, write_camt054
from gateway.payments.bankfiles import BankFile
from gateway.xml.schemas import default_registry
from mappings.camt054 import NAMESPACE, ROOT

NTRY = f"{{{NAMESPACE}}}Ntry"


def generate(path: Path, entries: int) -> None:
    """One entry in ten pays two invoices, one in ten carries its reference only in the free text."""
    def entry(i: int) -> SampleEntry:
        reference = national_reference(str(1_000_000 + i))
        if i % 10 == 1:
            other = national_reference(str(2_000_000 + i))
            return SampleEntry(f"E{i:010d}", Decimal("40.00"), date(2026, 2, 2),
                               parts=[SamplePart(reference, Decimal("25.00")), SamplePart(other, Decimal("15.00"))])
        if i % 10 == 2:
            return SampleEntry(f"E{i:010d}", Decimal("12.34"), date(2026, 2, 2), unstructured=[f"viite {reference}"])
        return SampleEntry(f"E{i:010d}", Decimal("12.34"), date(2026, 2, 2), parts=[SamplePart(reference)])

    with path.open("wb") as out:
        write_camt054(out, "FI2112345600000785", (entry(i) for i in range(entries)))


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
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "camt054.xml"
        generate(path, args.entries)
        size_mb = path.stat().st_size / 1e6
        parse_and_validate(path)  # warm: schema compiled, file in the page cache
        with Timer() as baseline:
            assert parse_and_validate(path) == args.entries
        with Timer() as mapped:
            summary = BankFile.from_path(path).validate()
        assert summary.entries == args.entries
    base_rate, mapped_rate = args.entries / baseline.seconds, args.entries / mapped.seconds
    print(f"camt.054.001.02 with {args.entries} entries, {size_mb:.1f} MB (numbers on a shared machine are noisy)")
    print_table(["what", "seconds", "entries/s", "ratio to baseline"], [
        ["parse + validate (baseline)", f"{baseline.seconds:.2f}", f"{base_rate:,.0f}", "1.00"],
        ["parse + validate + map to BankEntry", f"{mapped.seconds:.2f}", f"{mapped_rate:,.0f}",
         f"{mapped_rate / base_rate:.2f}"],
    ])


if __name__ == "__main__":
    main()
