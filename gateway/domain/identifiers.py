"""Identifiers used in Datahub messages: GS1 numbers (GSRN, GLN) and personal identity codes.

GS1 numbers of any length share one mod-10 check digit (weights 3, 1, 3, … from the right of the
body). python-stdnum implements it for EAN; its `validate` only accepts EAN lengths, so the 18-digit
GSRN uses the same check-digit function directly.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from stdnum import ean
from stdnum.exceptions import ValidationError
from stdnum.fi import hetu, ytunnus

GSRN_LENGTH: Final = 18
GLN_LENGTH: Final = 13


def gs1_check_digit(body: str) -> str:
    """The GS1 mod-10 check digit for `body` (the number without its check digit)."""
    if not body.isdigit() or not body.isascii():
        raise ValueError("a GS1 number body must consist of ASCII digits")
    return ean.calc_check_digit(body)


@lru_cache(maxsize=1 << 16)
def is_valid_gs1(number: str, length: int) -> bool:
    """True when `number` has exactly `length` ASCII digits and a correct GS1 check digit.

    Cached: the same parties and accounting points recur in every message, and the check runs per series."""
    if len(number) != length or not number.isascii() or not number.isdigit():
        return False
    return gs1_check_digit(number[:-1]) == number[-1]


def is_valid_gsrn(number: str) -> bool:
    """Accounting point id (GSRN): 18 digits, GS1 check digit."""
    return is_valid_gs1(number, GSRN_LENGTH)


def is_valid_gln(number: str) -> bool:
    """Party id (GLN): 13 digits, GS1 check digit."""
    return is_valid_gs1(number, GLN_LENGTH)


def make_gsrn(body17: str) -> str:
    """Complete a 17-digit GSRN body with its check digit."""
    if len(body17) != GSRN_LENGTH - 1:
        raise ValueError("a GSRN body has 17 digits")
    return body17 + gs1_check_digit(body17)


def make_gln(body12: str) -> str:
    """Complete a 12-digit GLN body with its check digit."""
    if len(body12) != GLN_LENGTH - 1:
        raise ValueError("a GLN body has 12 digits")
    return body12 + gs1_check_digit(body12)


def is_valid_business_id(value: str) -> bool:
    """Finnish business id (Y-tunnus), e.g. 2077474-0."""
    try:
        ytunnus.validate(value)
    except ValidationError:
        return False
    return True


_MASK_KEEP: Final = 7  # DDMMYY + century sign: enough to tell customers apart in logs, not to identify


class PersonalIdentityCode:
    """A Finnish personal identity code (henkilötunnus) that never prints in full.

    `str()`, `repr()` and f-strings show only the birth date part (`131052-****`); the full value is
    reachable only through `reveal()`, so a log line or an exception message cannot leak it by accident.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The full code, for the XML builder and the store only."""
        return self._value

    @property
    def masked(self) -> str:
        keep = self._value[:_MASK_KEEP] if len(self._value) > _MASK_KEEP else ""
        return keep + "*" * max(len(self._value) - len(keep), 4 if not keep else 0)

    def is_valid(self) -> bool:
        """Format, birth date and check character are correct (temporary ids 900–999 allowed)."""
        try:
            hetu.validate(self._value, allow_temporary=True)
        except ValidationError:
            return False
        return True

    def __repr__(self) -> str:
        return f"PersonalIdentityCode({self.masked!r})"

    def __str__(self) -> str:
        return self.masked

    def __format__(self, format_spec: str) -> str:
        return format(self.masked, format_spec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PersonalIdentityCode) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("PersonalIdentityCode", self._value))

    def __reduce__(self) -> tuple[type[PersonalIdentityCode], tuple[str]]:
        return (PersonalIdentityCode, (self._value,))


CustomerIdentifier = str | PersonalIdentityCode
"""A customer id as carried by F01/F03/F04/F06: a business id or own id as plain text, a personal
identity code wrapped so that it is masked."""


def customer_id_text(identifier: CustomerIdentifier) -> str:
    """The full text of a customer id, for serialisation."""
    return identifier.reveal() if isinstance(identifier, PersonalIdentityCode) else identifier
