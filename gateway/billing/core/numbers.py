"""Invoice numbers and the references derived from them.

An entity's series is ``prefix`` (digits, unique per entity in the group) followed by a running number
zero-padded to ``width``: ``10`` + ``0000042`` → ``100000042``. Numbers are digits only so that the national
reference can be the invoice number + its 7-3-1 check digit (docs/market.md §4.2): unique per entity, and across
the group as long as prefixes differ. The running number itself is drawn gaplessly by the store at issue.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.billing.core.reference import BASE_MAX_DIGITS, national_reference, rf_reference

MAX_NUMBER_LENGTH = 20  # Finvoice InvoiceNumber genericStringType1_20


@dataclass(frozen=True)
class NumberSeries:
    prefix: str
    width: int = 7

    def __post_init__(self) -> None:
        if not self.prefix.isdigit() or self.prefix.startswith("0"):
            raise ValueError(f"invoice number prefix {self.prefix!r} must be digits not starting with 0")
        if self.width < 1 or len(self.prefix) + self.width > BASE_MAX_DIGITS:
            raise ValueError(f"prefix {self.prefix!r} + {self.width} digits must stay within "
                             f"{BASE_MAX_DIGITS} digits (the longest reference base)")

    def number(self, sequence: int) -> str:
        if sequence < 1 or len(str(sequence)) > self.width:
            raise ValueError(f"sequence {sequence} does not fit the series {self.prefix} (width {self.width})")
        return f"{self.prefix}{sequence:0{self.width}d}"


def invoice_references(number: str) -> tuple[str, str]:
    """(national reference, RF reference) of an invoice number."""
    national = national_reference(number)
    return national, rf_reference(national)
