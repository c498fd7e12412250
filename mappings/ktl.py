"""The legacy KTL reference-payment file ("saapuvat viitemaksut", Finance Finland) ⇄ bank entries.

Fixed width, 90 characters a record (DOMAIN §5.2; field layout as in Finance Finland's service description
"Incoming reference payments"):

* ``0`` header: creation date YYMMDD (6), time HHMM (4), bank's institution code (2), service id (9),
  currency code (1, ``1`` = euro), filler.
* ``3`` reference payment (``5`` direct debit, same layout): account (14, domestic machine-format BBAN),
  booking date (6), payment date (6), archive id (16), reference (20, zero-padded), payer name (12),
  currency (1), name source (1), amount in cents (10), correction flag (1: ``0`` normal, ``1`` correction
  = the payment taken back), channel (1), feedback code (1).
* ``9`` summary: number of payments (6), their sum in cents (11), number of corrections (6), their sum (11).

Records end with CR LF or LF; a record shorter than 90 characters is padded with blanks (transports strip
trailing blanks), a longer one is an error. The text is ISO-8859-1. A file whose summary does not match its
records (a truncated transfer) is refused: every error names its line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final

from stdnum import iban as stdnum_iban

from gateway.payments.core.entries import BankEntry, BankFileFormat, CreditDebit, RemittancePart

RECORD_LENGTH: Final = 90
ENCODING: Final = "iso-8859-1"
PAYMENT_TYPES: Final = ("3", "5")
EURO_CODE: Final = "1"


class KtlFormatError(ValueError):
    """The content is not a well-formed KTL file; ``line`` is 1-based."""

    def __init__(self, line: int, text: str) -> None:
        super().__init__(f"line {line}: {text}")
        self.line = line
        self.text = text


@dataclass(frozen=True, slots=True)
class KtlHeader:
    created: date
    institution: str
    service_id: str


def looks_like_ktl(head: bytes) -> bool:
    """Whether ``head`` (the first bytes of a file) starts like a KTL file: a ``0`` header whose first 11
    characters are digits (record type, date, time) followed by a line break within 90 characters."""
    first_line = head.split(b"\n", 1)[0].rstrip(b"\r")
    return (head[:1] == b"0" and first_line[:11].isdigit() and len(first_line) <= RECORD_LENGTH
            and (b"\n" in head or len(head) <= RECORD_LENGTH))


def iter_records(lines: Iterable[bytes]) -> Iterator[tuple[int, str]]:
    """(line number, 90-character record) for every non-empty line."""
    for number, raw in enumerate(lines, 1):
        text = raw.rstrip(b"\r\n").decode(ENCODING)
        if not text.strip():
            continue
        if len(text) > RECORD_LENGTH:
            raise KtlFormatError(number, f"record is {len(text)} characters long; KTL records are {RECORD_LENGTH}")
        yield number, text.ljust(RECORD_LENGTH)


def parse_ktl(lines: Iterable[bytes]) -> Iterator[BankEntry]:
    """The payment records of a KTL file as bank entries, checked against the header and the summary.
    Entries are yielded as they are read; a broken summary raises after the last one (the caller stores
    nothing of a file that does not finish cleanly)."""
    header: KtlHeader | None = None
    count = total = corrections = corrections_total = 0
    summary_seen = False
    last_line = 0
    for number, record in iter_records(lines):
        last_line = number
        kind = record[0]
        if summary_seen:
            raise KtlFormatError(number, "record after the summary record (9)")
        if header is None:
            if kind != "0":
                raise KtlFormatError(number, f"a KTL file starts with a header record (0), not {kind!r}")
            header = _header(number, record)
            continue
        if kind in PAYMENT_TYPES:
            entry = _payment(number, record)
            if entry.reversal:
                corrections += 1
                corrections_total += _cents(entry.amount)
            else:
                count += 1
                total += _cents(entry.amount)
            yield entry
        elif kind == "9":
            _check_summary(number, record, count, total, corrections, corrections_total)
            summary_seen = True
        elif kind == "0":
            raise KtlFormatError(number, "a second header record (0): one file, one account listing")
        else:
            raise KtlFormatError(number, f"unknown record type {kind!r} (expected 0, 3, 5 or 9)")
    if header is None:
        raise KtlFormatError(1, "empty file: no header record (0)")
    if not summary_seen:
        raise KtlFormatError(last_line, "the summary record (9) is missing: the file is truncated")


def _header(number: int, record: str) -> KtlHeader:
    return KtlHeader(created=_date(number, record[1:7], "creation date"), institution=record[11:13].strip(),
                     service_id=record[13:22].strip())


def _payment(number: int, record: str) -> BankEntry:
    account = _digits(number, record[1:15], "account number")
    booking = _date(number, record[15:21], "booking date")
    paid = _date(number, record[21:27], "payment date")
    archive_id = record[27:43].strip()
    if not archive_id:
        raise KtlFormatError(number, "archive id (columns 28-43) is empty")
    reference = record[43:63]
    payer = record[63:75].strip() or None
    currency = record[75]
    if currency != EURO_CODE:
        raise KtlFormatError(number, f"currency code {currency!r}: only 1 (euro) is defined")
    amount = Decimal(int(_digits(number, record[77:87], "amount"))).scaleb(-2)
    correction = record[87]
    if correction not in "01":
        raise KtlFormatError(number, f"correction flag {correction!r} must be 0 or 1")
    reference_text = reference.strip().lstrip("0") or None
    if reference_text is not None and not reference_text.isdigit():
        raise KtlFormatError(number, f"reference {reference.strip()!r} must be digits")
    return BankEntry(
        source_format=BankFileFormat.KTL,
        entry_ref=archive_id,
        account=account_to_iban(account),
        amount=amount,
        currency="EUR",
        credit_debit=CreditDebit.DEBIT if correction == "1" else CreditDebit.CREDIT,
        booking_date=booking,
        value_date=paid,
        reversal=correction == "1",
        payer_name=payer,
        parts=(RemittancePart(reference_text=reference_text, amount=amount),) if reference_text else (),
        file_position=number,
        extra={"record_type": record[0], "name_source": record[76].strip(), "channel": record[88].strip(),
               "feedback": record[89].strip()},
    )


def _check_summary(number: int, record: str, count: int, total: int, corrections: int, corrections_total: int) -> None:
    stated = (int(_digits(number, record[1:7], "payment count")), int(_digits(number, record[7:18], "payment sum")),
              int(_digits(number, record[18:24], "correction count")),
              int(_digits(number, record[24:35], "correction sum")))
    actual = (count, total, corrections, corrections_total)
    if stated != actual:
        raise KtlFormatError(number, f"summary says {stated[0]} payments / {stated[1]} cents and {stated[2]} "
                                     f"corrections / {stated[3]} cents, the file has {count} / {total} and "
                                     f"{corrections} / {corrections_total}")


def account_to_iban(bban: str) -> str:
    """A Finnish machine-format account number (14 digits) as an IBAN; returned unchanged when the result
    is not a valid IBAN (allocation then reports the account as invalid)."""
    candidate = f"FI{stdnum_iban.calc_check_digits('FI00' + bban)}{bban}"
    return candidate if stdnum_iban.is_valid(candidate) else bban


def _cents(amount: Decimal) -> int:
    return int(amount.scaleb(2))


def _digits(number: int, text: str, what: str) -> str:
    if not text.isdigit():
        raise KtlFormatError(number, f"{what} {text!r} must be digits")
    return text


def _date(number: int, text: str, what: str) -> date:
    _digits(number, text, what)
    year = int(text[:2])
    try:
        return date(2000 + year if year < 80 else 1900 + year, int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise KtlFormatError(number, f"{what} {text!r} is not a date (YYMMDD)") from None
