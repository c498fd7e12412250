"""Finnish payment references (viitenumero) and their RF creditor-reference form (ISO 11649).

National reference: 4–20 digits, the last a check digit. The base digits are weighted from the right with
7, 3, 1, 7, 3, 1, …; check = (10 − sum mod 10) mod 10 (Finance Finland, "Kotimaan viitteen rakenne").
Printed in groups of five from the right, without leading zeros. python-stdnum has no module for it.

RF reference: "RF" + two check digits + the national reference, checked with ISO 7064 mod 97-10 (the
python-stdnum implementation); printed in groups of four.
"""

from __future__ import annotations

from operator import mul

from stdnum import iso11649
from stdnum.exceptions import ValidationError
from stdnum.iso7064 import mod_97_10

_WEIGHTS = (7, 3, 1)
_WEIGHTS_BY_POSITION = _WEIGHTS * 10  # from the rightmost digit
BASE_MIN_DIGITS = 3
BASE_MAX_DIGITS = 19


class InvalidReference(ValueError):
    """A reference that is not well formed or whose check digits do not match."""


def _digits(text: str) -> str:
    return "".join(text.split())


def check_digit(base: str) -> str:
    """The 7-3-1 check digit of the base digits `base`."""
    if not base.isdigit():
        raise InvalidReference(f"reference base {base!r} must be digits only")
    weights = _WEIGHTS_BY_POSITION if len(base) <= len(_WEIGHTS_BY_POSITION) else _WEIGHTS * len(base)
    total = sum(map(mul, map(int, reversed(base)), weights))  # in C: bank files check thousands
    return str((10 - total % 10) % 10)


def national_reference(base: str | int) -> str:
    """The national reference for `base` (3–19 digits, leading zeros dropped): base + check digit."""
    digits = str(base).lstrip("0") if isinstance(base, int) else _digits(base).lstrip("0")
    if not digits.isdigit() or not BASE_MIN_DIGITS <= len(digits) <= BASE_MAX_DIGITS:
        raise InvalidReference(
            f"reference base {base!r} must have {BASE_MIN_DIGITS}-{BASE_MAX_DIGITS} digits without leading zeros")
    return digits + check_digit(digits)


def is_valid_national(reference: str) -> bool:
    digits = _digits(reference).lstrip("0")
    if not digits.isdigit() or not 4 <= len(digits) <= 20:
        return False
    return check_digit(digits[:-1]) == digits[-1]


def validate_national(reference: str) -> str:
    """The compact national reference, or InvalidReference saying what is wrong."""
    digits = _digits(reference).lstrip("0")
    if not digits.isdigit() or not 4 <= len(digits) <= 20:
        raise InvalidReference(f"{reference!r} is not a Finnish reference: 4-20 digits expected")
    if check_digit(digits[:-1]) != digits[-1]:
        raise InvalidReference(f"{reference!r}: check digit {digits[-1]} does not match {check_digit(digits[:-1])}")
    return digits


def rf_reference(national: str) -> str:
    """The RF creditor reference carrying a national reference: RF + check digits + the reference."""
    body = validate_national(national)
    check = mod_97_10.calc_check_digits(body + "RF")
    return f"RF{check}{body}"


def is_valid_rf(reference: str) -> bool:
    return iso11649.is_valid(reference)


def validate_rf(reference: str) -> str:
    try:
        return str(iso11649.validate(reference))
    except ValidationError as exc:
        raise InvalidReference(f"{reference!r} is not a valid RF creditor reference: {exc}") from None


def national_from_rf(reference: str) -> str | None:
    """The national reference inside an RF reference, when its body is one (Finnish practice); else None."""
    body = validate_rf(reference)[4:]
    return body.lstrip("0") if is_valid_national(body) else None


def parse_reference(text: str) -> str | None:
    """A reference as written by a payer or a bank (national or RF, spaces allowed): its compact form when its
    check digits hold, else None. Leading zeros of a national reference (bank files pad to 20) are dropped."""
    compact = "".join(text.split()).upper()
    if compact.startswith("RF"):
        return compact if iso11649.is_valid(compact) else None
    return compact.lstrip("0") if is_valid_national(compact) else None


def format_national(reference: str) -> str:
    """Groups of five from the right: `1 23452` style, as printed on invoices."""
    digits = validate_national(reference)
    head = len(digits) % 5
    groups = ([digits[:head]] if head else []) + [digits[i:i + 5] for i in range(head, len(digits), 5)]
    return " ".join(groups)


def format_rf(reference: str) -> str:
    """Groups of four from the left: `RF09 8685 1625 9619 897`."""
    compact = validate_rf(reference)
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))
