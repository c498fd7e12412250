"""Writing camt.054.001.02 and KTL files: the demo's bank files, the benchmark's 100,000 entries, and the
synthetic test fixtures. Written to a stream one entry at a time, so a file of any size never sits in
memory. What is written validates against the official schema (tests check it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO
from xml.sax.saxutils import escape

from mappings.camt054 import NAMESPACE


@dataclass(frozen=True, slots=True)
class SamplePart:
    reference: str | None = None
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class SampleEntry:
    """One entry to write. ``parts`` become ``Strd`` blocks; ``unstructured`` ``Ustrd`` lines."""

    entry_ref: str
    amount: Decimal
    booking_date: date
    parts: Sequence[SamplePart] = ()
    unstructured: Sequence[str] = ()
    payer: str = "MAKSAJA MATTI"
    credit: bool = True
    reversal: bool = False
    currency: str = "EUR"
    extra: dict[str, str] = field(default_factory=dict)


def write_camt054(out: IO[bytes], iban: str, entries: Iterable[SampleEntry], *, message_id: str = "CAMT054-SAMPLE",
                  created: datetime | None = None, bic: str = "HANDFIHH") -> int:
    """A camt.054.001.02 notification for one account; returns the number of entries written."""
    created_text = (created or datetime(2026, 2, 3, 8, 0)).strftime("%Y-%m-%dT%H:%M:%S")
    out.write(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{NAMESPACE}">\n<BkToCstmrDbtCdtNtfctn>\n'
        f"<GrpHdr><MsgId>{escape(message_id)}</MsgId><CreDtTm>{created_text}</CreDtTm></GrpHdr>\n"
        f"<Ntfctn><Id>{escape(message_id)}-1</Id><CreDtTm>{created_text}</CreDtTm>\n"
        f"<Acct><Id><IBAN>{escape(iban)}</IBAN></Id><Ccy>EUR</Ccy><Svcr><FinInstnId><BIC>{bic}</BIC></FinInstnId>"
        f"</Svcr></Acct>\n".encode())
    count = 0
    for entry in entries:
        out.write(_ntry(entry).encode())
        count += 1
    out.write(b"</Ntfctn>\n</BkToCstmrDbtCdtNtfctn>\n</Document>\n")
    return count


def _ntry(e: SampleEntry) -> str:
    strd = "".join(_strd(p) for p in e.parts)
    ustrd = "".join(f"<Ustrd>{escape(line[:140])}</Ustrd>" for line in e.unstructured)
    remittance = f"<RmtInf>{ustrd}{strd}</RmtInf>" if strd or ustrd else ""
    reversal = "<RvslInd>true</RvslInd>" if e.reversal else ""
    indicator = "CRDT" if e.credit else "DBIT"
    day = e.booking_date.isoformat()
    return (f"<Ntry><NtryRef>{escape(e.entry_ref)}</NtryRef><Amt Ccy=\"{e.currency}\">{e.amount:.2f}</Amt>"
            f"<CdtDbtInd>{indicator}</CdtDbtInd>{reversal}<Sts>BOOK</Sts><BookgDt><Dt>{day}</Dt></BookgDt>"
            f"<ValDt><Dt>{day}</Dt></ValDt><AcctSvcrRef>{escape(e.entry_ref)}</AcctSvcrRef>"
            "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>"
            f"<NtryDtls><TxDtls><RltdPties><Dbtr><Nm>{escape(e.payer)}</Nm></Dbtr></RltdPties>{remittance}"
            "</TxDtls></NtryDtls></Ntry>\n")


def _strd(part: SamplePart) -> str:
    amount = f'<RfrdDocAmt><RmtdAmt Ccy="EUR">{part.amount:.2f}</RmtdAmt></RfrdDocAmt>' if part.amount else ""
    reference = (f"<CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>{escape(part.reference)}</Ref>"
                 "</CdtrRefInf>") if part.reference else ""
    return f"<Strd>{amount}{reference}</Strd>"


def write_ktl(out: IO[bytes], bban: str, entries: Iterable[SampleEntry], *, created: datetime | None = None) -> int:
    """A KTL reference-payment file for one 14-digit account; corrections are entries with ``reversal``."""
    moment = created or datetime(2026, 2, 3, 8, 0)
    out.write(f"0{moment:%y%m%d%H%M}47{'020840699':<9}1".ljust(90).encode("iso-8859-1") + b"\r\n")
    count = total = corrections = corrections_total = 0
    for e in entries:
        cents = int(e.amount.scaleb(2))
        reference = (e.parts[0].reference or "") if e.parts else ""
        day = e.booking_date.strftime("%y%m%d")
        record = (f"3{bban:0>14}{day}{day}{e.entry_ref[:16]:<16}{reference:0>20}{e.payer[:12]:<12}1A"
                  f"{cents:010d}{'1' if e.reversal else '0'}A ")
        out.write(record.encode("iso-8859-1") + b"\r\n")
        if e.reversal:
            corrections, corrections_total = corrections + 1, corrections_total + cents
        else:
            count, total = count + 1, total + cents
    out.write(f"9{count:06d}{total:011d}{corrections:06d}{corrections_total:011d}".ljust(90).encode() + b"\r\n")
    return count + corrections
