"""Bank payment files: real samples parse, synthetic cases map as the rules say, bad files are refused with
a clear error, and a 100,000-entry camt.054 streams in bounded memory."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from gateway.billing.core.reference import national_reference
from gateway.payments.bank_samples import SampleEntry, SamplePart, write_camt054, write_ktl
from gateway.payments.bankfiles import (
    BANK_EMPTY,
    BANK_KTL_INVALID,
    BANK_TOO_LARGE,
    BANK_UNKNOWN_FORMAT,
    BANK_UNSUPPORTED_VERSION,
    BANK_XML_FORBIDDEN,
    BANK_XML_INVALID,
    BankFile,
    BankFileError,
    detect_format,
)
from gateway.payments.core.allocation import OpenItem, UnmatchedReason, allocate, classify_account
from gateway.payments.core.entries import BankFileFormat, CreditDebit
from gateway.xml.schemas import SCHEMA_ROOT

BANK = Path(__file__).resolve().parents[1] / "fixtures" / "bank"
OUR_IBAN = "FI2112345600000785"
REF1, REF2 = national_reference("20260001"), national_reference("20260002")


def entries(name: str) -> list:
    return list(BankFile.from_path(BANK / name).entries())


def test_the_real_handelsbanken_camt054_parses_and_validates() -> None:
    found = entries("camt054-real-handelsbanken-finland-example.xml")
    assert [e.entry_ref for e in found] == ["201701312588CECZ0804", "20170123456", "201702013131LG123456",
                                            "170130313190U60111"]
    first, second, third, fourth = found
    assert first.account == "FI1431313001234567" and first.amount == Decimal("88.16")
    assert first.booking_date == date(2017, 1, 22) and first.payer_name == "SUOMI OY"
    assert first.valid_references() == ("9597349",)  # only in the unstructured text
    assert second.valid_references() == ("9544208",)
    assert second.parts[0].amount == Decimal("1371.13") and second.parts[1].credit_note_amount == Decimal("628.68")
    assert third.valid_references() == () and [p.document_type for p in third.parts] == ["CINV", "CREN", "CREN"]
    assert fourth.valid_references() == ()  # free text with amounts and dates, no valid reference


def test_the_real_ktl_file_parses() -> None:
    (entry,) = entries("ktl-real-django-jbank-547392460.svm")
    assert entry.source_format is BankFileFormat.KTL
    assert entry.entry_ref == "02042588WWRV0212" and entry.account == "FI4947300010416310"
    assert entry.amount == Decimal("49.00") and entry.payer_name == "KATAJAINEN J"
    assert entry.booking_date == date(2018, 2, 5) and entry.value_date == date(2018, 2, 4)
    assert entry.valid_references() == ("13013",) and not entry.reversal


def test_synthetic_camt054_cases_end_where_the_rules_say() -> None:
    by_ref = {e.entry_ref: e for e in entries("camt054-valid-cases.xml")}
    items = [OpenItem("INV1", REF1, "C1", Decimal("100.00"), date(2026, 1, 31)),
             OpenItem("INV2", REF2, "C2", Decimal("25.50"), date(2026, 1, 31))]
    status = classify_account(by_ref["E-STRUCTURED"].account, [OUR_IBAN])
    decide = lambda ref: allocate(by_ref[ref], account=status, open_items=items)  # noqa: E731
    assert decide("E-STRUCTURED").allocated_total == Decimal("100.00")
    assert decide("E-USTRD-ONLY").allocated_total == Decimal("25.50")
    assert decide("E-BAD-CHECK-DIGIT").reason is UnmatchedReason.INVALID_REFERENCE
    assert decide("E-NO-REFERENCE").reason is UnmatchedReason.NO_REFERENCE
    assert decide("E-RF").reason is UnmatchedReason.NO_OPEN_INVOICE
    several = decide("E-SEVERAL")
    assert {(a.invoice, a.amount) for a in several.allocations} == {("INV1", Decimal("100.00")),
                                                                     ("INV2", Decimal("25.50"))}
    assert several.credit_total == Decimal("24.50")  # INV2 owed only 25.50 of its 50.00
    reversal = by_ref["E-REVERSAL"]
    assert reversal.reversal and reversal.credit_debit is CreditDebit.DEBIT
    original = decide("E-STRUCTURED")
    assert allocate(reversal, account=status, original=original).allocated_total == Decimal("-100.00")
    (other,) = entries("camt054-valid-unknown-iban.xml")
    assert allocate(other, account=classify_account(other.account, [OUR_IBAN])).reason is \
        UnmatchedReason.UNKNOWN_ACCOUNT


def test_ktl_corrections_are_reversals() -> None:
    found = entries("ktl-valid-cases.ktl")
    assert [e.reversal for e in found] == [False, False, True]
    assert found[0].account == OUR_IBAN and found[0].payer_name == "MEIKÄLÄINEN"


@pytest.mark.parametrize(("name", "code", "words"), [
    ("invalid-camt054-schema-no-credit-debit.xml", BANK_XML_INVALID, "CdtDbtInd"),
    ("invalid-camt054-doctype.xml", BANK_XML_FORBIDDEN, "DOCTYPE"),
    ("invalid-camt054-version-04.xml", BANK_UNSUPPORTED_VERSION, "camt.054.001.04"),
    ("invalid-camt053-statement.xml", BANK_UNKNOWN_FORMAT, "camt.053"),
    ("invalid-camt054-truncated.xml", "BANK.", "truncated"),
    ("invalid-ktl-truncated.ktl", BANK_KTL_INVALID, "summary record (9) is missing"),
    ("invalid-ktl-summary-mismatch.ktl", BANK_KTL_INVALID, "summary says"),
    ("invalid-ktl-record-too-long.ktl", BANK_KTL_INVALID, "91 characters"),
    ("invalid-ktl-bad-date.ktl", BANK_KTL_INVALID, "not a date"),
    ("invalid-not-a-bank-file.csv", BANK_UNKNOWN_FORMAT, "neither"),
])
def test_invalid_files_are_refused_with_a_clear_error(name: str, code: str, words: str) -> None:
    with pytest.raises(BankFileError) as caught:
        BankFile.from_path(BANK / name).validate()
    assert caught.value.code.startswith(code) and words in str(caught.value)


def test_the_format_comes_from_the_content_not_the_name(tmp_path: Path) -> None:
    renamed = tmp_path / "payments.txt"
    renamed.write_bytes((BANK / "camt054-real-handelsbanken-finland-example.xml").read_bytes())
    assert BankFile.from_path(renamed).format is BankFileFormat.CAMT054
    disguised = tmp_path / "statement.xml"
    disguised.write_bytes((BANK / "ktl-real-django-jbank-547392460.svm").read_bytes())
    assert BankFile.from_path(disguised).format is BankFileFormat.KTL
    with pytest.raises(BankFileError) as caught:
        detect_format(b"   \n")
    assert caught.value.code == BANK_EMPTY


def test_the_size_limit_is_checked_before_parsing() -> None:
    data = (BANK / "camt054-valid-cases.xml").read_bytes()
    with pytest.raises(BankFileError) as caught:
        BankFile.from_bytes("x.xml", data, max_bytes=len(data) - 1)
    assert caught.value.code == BANK_TOO_LARGE and str(len(data)) in caught.value.text


def test_a_ktl_record_without_a_line_break_is_not_read_whole() -> None:
    header = (BANK / "ktl-valid-cases.ktl").read_bytes().split(b"\r\n")[0]
    with pytest.raises(BankFileError, match="longer than 90"):
        BankFile.from_bytes("x", header + b"\r\n3" + b"9" * 5_000_000).validate()


def test_written_samples_validate_against_the_official_schema() -> None:
    out = io.BytesIO()
    write_camt054(out, OUR_IBAN, [SampleEntry("A", Decimal("1.00"), date(2026, 2, 2), parts=[SamplePart(REF1)],
                                              unstructured=["x"]),
                                  SampleEntry("B", Decimal("2.00"), date(2026, 2, 2), credit=False, reversal=True)])
    schema = etree.XMLSchema(etree.parse(str(SCHEMA_ROOT / "camt.054.001.02" / "camt.054.001.02.xsd")))
    schema.assertValid(etree.fromstring(out.getvalue()))
    ktl_out = io.BytesIO()
    write_ktl(ktl_out, "12345600000785", [SampleEntry("K1", Decimal("3.00"), date(2026, 2, 2),
                                                      parts=[SamplePart(REF2)])])
    assert all(len(line) == 90 for line in ktl_out.getvalue().split(b"\r\n") if line)


_BIG_FILE_SCRIPT = """
import sys
from datetime import date
from decimal import Decimal
from gateway.payments.bank_samples import SampleEntry, SamplePart, write_camt054
from gateway.payments.bankfiles import BankFile
path = sys.argv[1]
with open(path, "wb") as out:
    write_camt054(out, "FI2112345600000785", (SampleEntry(f"E{i:08d}", Decimal("12.34"), date(2026, 2, 2),
                  parts=[SamplePart("10003")], unstructured=[f"Lasku {i}"]) for i in range(100_000)))
summary = BankFile.from_path(path).validate()
# VmHWM is this process image's own peak; getrusage's ru_maxrss survives exec and would show pytest's.
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(summary.entries, summary.credits, peak_kb // 1024)
"""


def test_a_100000_entry_camt054_streams_in_bounded_memory(tmp_path: Path) -> None:
    """In its own process, so that the peak resident memory is this file's alone: a parsed tree of the
    ~55 MB file would need several hundred MB; streaming stays near the interpreter's own size."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _BIG_FILE_SCRIPT, str(tmp_path / "big.xml")], capture_output=True,
                          text=True, check=True, timeout=600)
    entries_seen, credits, peak_mb = done.stdout.split()
    assert int(entries_seen) == 100_000 and Decimal(credits) == Decimal("1234000.00")
    assert int(peak_mb) < 150, f"peak resident memory {peak_mb} MB"
