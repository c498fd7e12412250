"""The Finnish virtual bank barcode (virtuaaliviivakoodi), Finance Finland Bank Bar Code Guide v5.3.

54 digits, version 4 with a national reference, version 5 with an RF creditor reference:

    pos  1     version               4 | 5
    pos  2–17  IBAN digits after "FI" (16)
    pos 18–23  euros (6), 24–25 cents (2); all zeros = no amount, also above 999 999,99 €
    v4:  26–28 "000", 29–48 national reference zero-padded (20)
    v5:  26–27 RF check digits, 28–48 the RF body zero-padded (21)
    pos 49–54  due date YYMMDD, "000000" = none

Written by hand (the PyPI package ``virtuaaliviivakoodi`` splits amounts with floats and skips checks) and
tested against every vector of the guide. The printed symbol is Code 128 set C (``code128_modules``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

import barcode as python_barcode  # python-barcode: the Code 128 symbology, used without an image writer
from stdnum import iban as iban_number

from gateway.billing.core.reference import InvalidReference, validate_national, validate_rf

LENGTH = 54
MAX_AMOUNT = Decimal("999999.99")
_CENT = Decimal("0.01")


class InvalidBarcode(ValueError):
    """Input that cannot be put into a virtual barcode, or a code that is not one."""


@dataclass(frozen=True)
class BarcodeFields:
    version: int
    iban: str  # compact, "FI…"
    amount: Decimal | None  # None: no amount in the code
    reference: str  # compact national ("1232") or RF ("RF…") reference
    due: date | None


@lru_cache(maxsize=64)  # an entity has one or two accounts: check each once
def _fi_account_digits(iban: str) -> str:
    compact = iban_number.compact(iban)
    if not compact.startswith("FI") or not iban_number.is_valid(compact):
        raise InvalidBarcode(f"{iban!r} is not a valid Finnish IBAN")
    return compact[2:]


def _amount_field(amount: Decimal | None) -> str:
    if amount is None or amount <= 0 or amount > MAX_AMOUNT:
        return "0" * 8
    if amount != amount.quantize(_CENT):
        raise InvalidBarcode(f"amount {amount} has more than two decimals")
    cents = int(amount * 100)
    return f"{cents // 100:06d}{cents % 100:02d}"


def _due_field(due: date | None) -> str:
    return "000000" if due is None else due.strftime("%y%m%d")


def virtual_barcode(iban: str, amount: Decimal | None, reference: str, due: date | None) -> str:
    """The 54-digit code: version 5 when ``reference`` is an RF reference, else version 4."""
    account = _fi_account_digits(iban)
    compact = "".join(reference.split()).upper()
    try:
        if compact.startswith("RF"):
            rf = validate_rf(compact)
            body = rf[4:]
            if not body.isdigit() or len(body) > 21:
                raise InvalidBarcode(f"{reference!r}: a barcode carries only numeric RF references of ≤ 21 digits")
            code = f"5{account}{_amount_field(amount)}{rf[2:4]}{body.zfill(21)}{_due_field(due)}"
        else:
            national = validate_national(compact)
            code = f"4{account}{_amount_field(amount)}000{national.zfill(20)}{_due_field(due)}"
    except InvalidReference as error:
        raise InvalidBarcode(str(error)) from None
    assert len(code) == LENGTH, code
    return code


def decode_barcode(code: str) -> BarcodeFields:
    """The fields of a version 4 or 5 code; InvalidBarcode when it is malformed or its references do not check."""
    if len(code) != LENGTH or not code.isdigit() or code[0] not in "45":
        raise InvalidBarcode(f"{code!r} is not a 54-digit version 4 or 5 virtual barcode")
    iban = "FI" + code[1:17]
    if not iban_number.is_valid(iban):
        raise InvalidBarcode(f"{code!r}: the account {iban} does not check")
    cents = int(code[17:25])
    amount = None if cents == 0 else Decimal(cents).scaleb(-2)
    try:
        if code[0] == "4":
            if code[25:28] != "000":
                raise InvalidBarcode(f"{code!r}: positions 26-28 of version 4 must be 000")
            reference = validate_national(code[28:48])
        else:
            reference = validate_rf("RF" + code[25:27] + code[27:48].lstrip("0"))
    except InvalidReference as error:
        raise InvalidBarcode(str(error)) from None
    due = None
    if code[48:] != "000000":
        try:
            due = date(2000 + int(code[48:50]), int(code[50:52]), int(code[52:54]))
        except ValueError:
            raise InvalidBarcode(f"{code!r}: {code[48:]} is not a date YYMMDD") from None
    return BarcodeFields(int(code[0]), iban, amount, reference, due)


def code128_modules(code: str) -> str:
    """The Code 128 set C symbol of a barcode as bar ('1') and space ('0') modules, quiet zones excluded."""
    symbol = python_barcode.get_barcode_class("code128")(code)
    return str(symbol.build()[0])
