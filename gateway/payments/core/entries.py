"""One bank entry: the unit that bank payment files deliver and that allocation decides on.

An entry is one camt.054 ``Ntry`` (which may pay several invoices, one remittance part each) or one KTL
payment record (type 3). Both mappings produce this type; nothing downstream knows which file it came from
except through ``source_format``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache

from gateway.billing.core.reference import parse_reference


class BankFileFormat(StrEnum):
    CAMT054 = "camt.054"
    KTL = "ktl"


class CreditDebit(StrEnum):
    CREDIT = "CRDT"  # money in
    DEBIT = "DBIT"  # money out (or, with the reversal flag, a credit taken back)


@dataclass(frozen=True, slots=True)
class RemittancePart:
    """What the payer said one part of the payment is for (camt.054 ``Strd``; a KTL record has one part).

    ``reference_text`` is the creditor reference exactly as delivered (may be invalid); ``reference`` is its
    compact form when its check digits hold (``parse_reference``), else None. ``amount`` is the remitted
    amount when the bank states one (``RmtdAmt``); ``credit_note_amount`` a credit note the payer deducted
    (``CdtNoteAmt``); ``document_number`` an invoice or credit-note number (``RfrdDocInf/Nb``).
    """

    reference_text: str | None = None
    amount: Decimal | None = None
    credit_note_amount: Decimal | None = None
    document_number: str | None = None
    document_type: str | None = None  # CINV, CREN, …

    @property
    def reference(self) -> str | None:
        return _parse_reference(self.reference_text) if self.reference_text else None


@dataclass(frozen=True, slots=True)
class BankEntry:
    """One incoming (or reversed) payment as the bank reported it.

    ``entry_ref`` is the bank's own reference for the entry (camt.054 ``AcctSvcrRef``, else ``NtryRef``; KTL
    archive id): the key that makes a re-import change nothing. ``account`` is the receiving account as
    delivered (an IBAN for camt.054; KTL carries a 14-digit domestic account number, converted to an IBAN
    when it is a valid Finnish one). ``amount`` is positive; the direction is ``credit_debit``.
    ``unstructured`` is the free text (``Ustrd``), used for the reference only when no structured part has
    one (Finnish banks deliver valid references there too).
    """

    source_format: BankFileFormat
    entry_ref: str
    account: str
    amount: Decimal
    currency: str
    credit_debit: CreditDebit
    booking_date: date
    value_date: date | None = None
    reversal: bool = False
    payer_name: str | None = None
    parts: tuple[RemittancePart, ...] = ()
    unstructured: tuple[str, ...] = ()
    file_position: int = 0  # 1-based entry number (camt.054) or line number (KTL), for error messages
    notification_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    # Allocation and the import ask for the references several times per entry: worked out once, kept here.
    _texts: tuple[str, ...] | None = field(default=None, init=False, repr=False, compare=False, hash=False)
    _valid: tuple[str, ...] | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise ValueError(f"entry {self.entry_ref}: amount must not be negative (direction is credit_debit)")

    @property
    def signed_amount(self) -> Decimal:
        """+amount for money received; −amount for a reversal or any other debit."""
        return self.amount if self.credit_debit is CreditDebit.CREDIT else -self.amount

    @property
    def is_reversal(self) -> bool:
        """A credit taken back: camt.054 ``RvslInd`` on a debit entry, or a KTL correction record."""
        return self.reversal

    def reference_texts(self) -> tuple[str, ...]:
        """Every reference the payer gave: the structured ones, else the unstructured text's candidates."""
        if self._texts is None:
            texts = tuple(p.reference_text for p in self.parts if p.reference_text) or tuple(
                candidate for line in self.unstructured for candidate in reference_candidates(line))
            object.__setattr__(self, "_texts", texts)  # frozen: the cache is the one field set after creation
            return texts
        return self._texts

    def remember_references(self, texts: tuple[str, ...], valid: tuple[str, ...]) -> None:
        """Set what ``reference_texts()`` and ``valid_references()`` answer, as worked out for this entry
        elsewhere (the process that read the file): never different from what they would work out."""
        object.__setattr__(self, "_texts", texts)
        object.__setattr__(self, "_valid", valid)

    def valid_references(self) -> tuple[str, ...]:
        """The compact references whose check digits hold, in the order given, without repeats."""
        if self._valid is None:
            seen: dict[str, None] = {}
            for text in self.reference_texts():
                compact = _parse_reference(text)
                if compact is not None:
                    seen.setdefault(compact, None)
            object.__setattr__(self, "_valid", tuple(seen))
            return tuple(seen)
        return self._valid


# Allocation asks an entry for its references several times; the check digit is computed once per text.
_parse_reference = lru_cache(maxsize=4096)(parse_reference)


def reference_candidates(text: str) -> tuple[str, ...]:
    """Tokens of free text that look like a reference: the whole text without spaces when it is one
    (``"1 23452"``), else each whitespace-separated word that is all digits or starts with RF (trailing
    punctuation dropped; a word with an inner comma or dot, like an amount ``2082,58``, is not one). The check
    digit decides later."""
    compact = "".join(text.split())
    if _looks_like_reference(compact):
        return (compact,)
    words = (word.rstrip(".,;:)").lstrip("(#:") for word in text.split())
    return tuple(word for word in words if _looks_like_reference(word))


def _looks_like_reference(token: str) -> bool:
    upper = token.upper()
    if upper.startswith("RF"):
        return 5 <= len(upper) <= 25 and upper[2:].isalnum()
    return token.isdigit() and 4 <= len(token.lstrip("0")) <= 20
