"""ISO 20022 camt.054.001.02 (BankToCustomerDebitCreditNotificationV02) ⇄ bank entries, streamed.

One ``Ntry`` is one entry. Its receiving account is the enclosing ``Ntfctn/Acct/Id/IBAN`` (or ``Othr/Id``);
its identity is ``AcctSvcrRef``, else ``NtryRef``, else the notification id and the entry's position (the
schema makes both references optional). Remittance information (DOMAIN §5.2): each structured part
(``RmtInf/Strd``) gives a creditor reference (``CdtrRefInf/Ref``), a remitted amount (``RfrdDocAmt/RmtdAmt``),
a deducted credit note (``CdtNoteAmt``) and a document number (``RfrdDocInf/Nb``); the unstructured lines
(``Ustrd``) are kept for the fallback (Finnish banks put valid references there too). A batch entry with
several ``TxDtls`` becomes one part per transaction with that transaction's amount. ``RvslInd`` marks a
reversal. Dates with a time (``DtTm``) are taken as the Helsinki calendar day.

``iter_entries`` reads with ``lxml.etree.iterparse`` and drops each ``Ntry`` once mapped, so memory stays
bounded whatever the file's size; given a compiled schema it validates while reading. The error surfaces a
little after the element where the document stops being valid (lxml reads ahead), so a caller commits only
after the last entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import IO, Final

from lxml import etree

from gateway.domain.periods import HELSINKI
from gateway.payments.core.entries import BankEntry, BankFileFormat, CreditDebit, RemittancePart, reference_candidates

NAMESPACE: Final = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"
ROOT: Final = "Document"
_NTRY: Final = f"{{{NAMESPACE}}}Ntry"
_ACCT: Final = f"{{{NAMESPACE}}}Acct"
_NTFCTN_ID: Final = f"{{{NAMESPACE}}}Id"
_NTFCTN: Final = f"{{{NAMESPACE}}}Ntfctn"
_DOCUMENT: Final = f"{{{NAMESPACE}}}{ROOT}"


def _q(path: str) -> tuple[str, ...]:
    """A path as its steps' tags in Clark notation, for ``_child``."""
    return tuple(f"{{{NAMESPACE}}}{step}" for step in path.split("/"))


P_AMTDTLS_INSTDAMT_AMT: Final = _q("AmtDtls/InstdAmt/Amt")
P_AMTDTLS_TXAMT_AMT: Final = _q("AmtDtls/TxAmt/Amt")
P_DT: Final = _q("Dt")
P_DTTM: Final = _q("DtTm")
P_ID_IBAN: Final = _q("Id/IBAN")
P_ID_OTHR_ID: Final = _q("Id/Othr/Id")
_DBTR_NM: Final = _q("Dbtr/Nm")
_ULTMTDBTR_NM: Final = _q("UltmtDbtr/Nm")
_RFRDDOCINF_NB: Final = _q("RfrdDocInf/Nb")
_RFRDDOCINF_TP_CDORPRTRY_CD: Final = _q("RfrdDocInf/Tp/CdOrPrtry/Cd")
(T_AMT, T_ACCTSVCRREF, T_NTRYREF, T_NTRYDTLS, T_TXDTLS, T_RMTINF, T_USTRD, T_STRD, T_VALDT, T_BOOKGDT, T_CDTDBTIND,
 T_RVSLIND, T_RLTDPTIES, T_RFRDDOCAMT, T_RMTDAMT, T_CDTNOTEAMT, T_CDTRREFINF, T_REF, T_RFRDDOCINF) = _q(
    "Amt/AcctSvcrRef/NtryRef/NtryDtls/TxDtls/RmtInf/Ustrd/Strd/ValDt/BookgDt/CdtDbtInd/RvslInd/RltdPties/RfrdDocAmt/"
    "RmtdAmt/CdtNoteAmt/CdtrRefInf/Ref/RfrdDocInf")
_CREDIT_DEBIT: Final = {member.value: member for member in CreditDebit}


class Camt054Error(ValueError):
    """Content that the schema allows but that cannot be an entry (e.g. an amount that is not a number)."""

    def __init__(self, position: int, text: str, line: int | None = None) -> None:
        super().__init__(f"entry {position}: {text}")
        self.position = position
        self.text = text
        self.line = line


def iter_entries(source: IO[bytes], *, schema: etree.XMLSchema | None = None) -> Iterator[BankEntry]:
    """Every ``Ntry`` of a camt.054.001.02 document, in document order. Raises ``etree.XMLSyntaxError``
    (well-formedness or, with ``schema``, validity) or ``Camt054Error``."""
    account = notification_id = ""
    position = 0
    # lxml reports a validity error only when it next reads input, so the entry that broke the schema may
    # reach the mapping first: a mapping error is held until the parser has had its say, and the schema's
    # error (with its line and column) wins.
    held: Camt054Error | None = None
    closed = False  # with a schema, lxml does not always report a document cut short: check it ourselves
    context = etree.iterparse(source, events=("end",), tag=(_ACCT, _NTRY, _NTFCTN, _DOCUMENT), schema=schema,
                              resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                              remove_comments=True, remove_pis=True)
    for _, element in context:
        tag = element.tag
        parent = element.getparent()
        if tag == _ACCT and parent is not None and parent.tag == _NTFCTN:
            account = _account(element)
            notification_id = (parent.findtext(_NTFCTN_ID) or "").strip()  # Id precedes Acct in Ntfctn
        elif tag == _NTRY:
            position += 1
            if held is None:
                try:
                    entry = entry_from_ntry(element, account=account, notification_id=notification_id,
                                            position=position)
                except ValueError as exc:
                    held = exc if isinstance(exc, Camt054Error) else Camt054Error(position, str(exc),
                                                                                  _line(element))
                else:
                    yield entry
            _forget(element)
        elif tag == _NTFCTN:
            _forget(element)
        elif tag == _DOCUMENT and parent is None:
            closed = True
    if held is not None:
        raise held
    if not closed:
        raise Camt054Error(position, "the document ends before its root element is closed: the file is truncated")


def entry_from_ntry(ntry: etree._Element, *, account: str, notification_id: str, position: int) -> BankEntry:
    """One ``Ntry`` element as a bank entry."""
    # This is the import's hot loop. Every field is reached by walking children (``_child``), never by
    # ``find(path)``: lxml runs a path through its Python ElementPath engine, several times the cost of the walk.
    kids = {child.tag: child for child in ntry}
    amount_element = kids.get(T_AMT)
    if amount_element is None:
        raise Camt054Error(position, "Ntry has no Amt", _line(ntry))
    amount = _decimal(amount_element.text, position, "Amt", ntry)
    entry_ref = _own_text(kids.get(T_ACCTSVCRREF)) or _own_text(kids.get(T_NTRYREF)) or f"{notification_id}#{position}"
    details = kids.get(T_NTRYDTLS)
    transactions = [child for child in details if child.tag == T_TXDTLS] if details is not None else []
    parts: list[RemittancePart] = []
    unstructured: list[str] = []
    payer: str | None = None
    for tx in transactions:
        tx_lines: list[str] = []
        tx_parts: list[RemittancePart] = []
        tx_kids = {child.tag: child for child in tx}
        remittance = tx_kids.get(T_RMTINF)
        for item in remittance if remittance is not None else ():
            tag = item.tag
            if tag == T_USTRD:
                text = (item.text or "").strip()
                if text:
                    tx_lines.append(text)
            elif tag == T_STRD:
                tx_parts.append(_part(item, position))
        unstructured.extend(tx_lines)
        if len(transactions) > 1:
            tx_amount = _tx_amount(tx, position)
            referenced = [p for p in tx_parts if p.reference_text]
            if len(referenced) == 1 and referenced[0].amount is None:
                tx_parts = [_with_amount(p, tx_amount) if p is referenced[0] else p for p in tx_parts]
            elif not referenced:
                candidates = [c for line in tx_lines for c in reference_candidates(line)]
                tx_parts.append(RemittancePart(reference_text=candidates[0] if candidates else None, amount=tx_amount))
        parts.extend(tx_parts)
        if payer is None:
            parties = tx_kids.get(T_RLTDPTIES)
            if parties is not None:
                payer = _text(parties, _DBTR_NM) or _text(parties, _ULTMTDBTR_NM)
    value_date = _date(kids.get(T_VALDT), position)
    indicator = _own_text(kids.get(T_CDTDBTIND)) or ""
    return BankEntry(
        source_format=BankFileFormat.CAMT054,
        entry_ref=entry_ref,
        account=account,
        amount=amount,
        currency=amount_element.get("Ccy", ""),
        credit_debit=_CREDIT_DEBIT.get(indicator) or CreditDebit(indicator),
        booking_date=_date(kids.get(T_BOOKGDT), position) or value_date or date.min,
        value_date=value_date,
        reversal=_own_text(kids.get(T_RVSLIND)) in ("true", "1"),
        payer_name=payer,
        parts=tuple(parts),
        unstructured=tuple(unstructured),
        file_position=position,
        notification_id=notification_id or None,
    )


def _part(strd: etree._Element, position: int) -> RemittancePart:
    kids = {child.tag: child for child in strd}
    document_amounts = kids.get(T_RFRDDOCAMT)
    remitted = credit_note = None
    if document_amounts is not None:
        remitted = _child(document_amounts, (T_RMTDAMT,))
        credit_note = _child(document_amounts, (T_CDTNOTEAMT,))
    creditor_reference = kids.get(T_CDTRREFINF)  # at most one in a Strd, as RfrdDocAmt; RfrdDocInf may repeat
    return RemittancePart(
        reference_text=_text(creditor_reference, (T_REF,)) if creditor_reference is not None else None,
        amount=_decimal(remitted.text, position, "RmtdAmt", strd) if remitted is not None else None,
        credit_note_amount=(_decimal(credit_note.text, position, "CdtNoteAmt", strd)
                            if credit_note is not None else None),
        document_number=_text(strd, _RFRDDOCINF_NB) if T_RFRDDOCINF in kids else None,
        document_type=_text(strd, _RFRDDOCINF_TP_CDORPRTRY_CD) if T_RFRDDOCINF in kids else None,
    )


def _with_amount(part: RemittancePart, amount: Decimal | None) -> RemittancePart:
    return RemittancePart(part.reference_text, amount, part.credit_note_amount, part.document_number,
                          part.document_type)


def _tx_amount(tx: etree._Element, position: int) -> Decimal | None:
    element = _child(tx, P_AMTDTLS_TXAMT_AMT)
    if element is None:
        element = _child(tx, P_AMTDTLS_INSTDAMT_AMT)
    return _decimal(element.text, position, "TxAmt", tx) if element is not None else None


def _account(acct: etree._Element) -> str:
    return _text(acct, P_ID_IBAN) or _text(acct, P_ID_OTHR_ID) or ""


def _own_text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _child(element: etree._Element, tags: tuple[str, ...]) -> etree._Element | None:
    """The first element, in document order, down the path of child ``tags`` (Clark notation), or None: what
    ``find`` answers for the path."""
    first, rest = tags[0], tags[1:]
    for child in element:
        if child.tag == first:
            found = _child(child, rest) if rest else child
            if found is not None:
                return found
    return None


def _text(element: etree._Element, tags: tuple[str, ...]) -> str | None:
    found = _child(element, tags)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _decimal(text: str | None, position: int, what: str, where: etree._Element) -> Decimal:
    try:
        value = Decimal((text or "").strip())
    except InvalidOperation:
        raise Camt054Error(position, f"{what} {text!r} is not an amount", _line(where)) from None
    if not value.is_finite() or value < 0:
        raise Camt054Error(position, f"{what} {text!r} is not an amount", _line(where))
    return value


def _date(holder: etree._Element | None, position: int) -> date | None:
    if holder is None:
        return None
    day = _text(holder, P_DT)
    if day is not None:
        return date.fromisoformat(day[:10])
    moment = _text(holder, P_DTTM)
    if moment is None:
        return None
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        raise Camt054Error(position, f"date-time {moment!r} is not ISO 8601", _line(holder)) from None
    return parsed.astimezone(HELSINKI).date() if parsed.tzinfo is not None else parsed.date()


def _line(element: etree._Element) -> int | None:
    line = element.sourceline
    return line if isinstance(line, int) else None


def _forget(element: etree._Element) -> None:
    """Drop an element already mapped, and its earlier siblings, so the tree never grows."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]
