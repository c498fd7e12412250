"""The printable invoice (PDF, fpdf2): every item the Energy Authority requires, Finnish labels with English.

Page 1: seller, buyer in the window-envelope position, the invoice's key facts, the summary (VAT per rate,
electricity tax basis and amount, consumption against a year earlier, contract validity, complaint and dispute
information) and, for an invoice with something to pay, the bank transfer form: IBAN and BIC, reference
(national in groups of five, RF in groups of four), due date, amount, the virtual barcode as digits and as a
Code 128 set C symbol, and the EPC payment QR code. Page 2 on: the specification, one row per invoice line.

Core fonts only (no font files to ship): they cover Finnish letters but not the euro sign, so amounts read
"EUR". Rendering is deterministic: the same document gives the same bytes.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from fpdf import FPDF

from gateway.billing.core.barcode import code128_modules
from gateway.billing.core.model import Document, DocumentKind
from gateway.billing.core.qr import epc_payload, qr_matrix
from gateway.billing.core.reference import format_national, format_rf
from gateway.billing.core.texts import LABELS, document_title

A4_W, A4_H = 210.0, 297.0
MARGIN = 15.0
SLIP_TOP = 200.0
MODULE_MM = 0.28  # Code 128 module width; the guide asks for at least 0.25 mm
BAR_HEIGHT = 13.0
QR_MODULE_MM = 0.55
_FIXED_DATE = datetime(2000, 1, 1)


def _fi(day: date | None) -> str:
    return "" if day is None else f"{day.day}.{day.month}.{day.year}"


def money(value: Decimal) -> str:
    """``1 234,56``: groups of three, decimal comma (Finnish)."""
    q = value.quantize(Decimal("0.01"), ROUND_HALF_UP)
    sign = "-" if q < 0 else ""
    whole, _, cents = f"{abs(q):f}".partition(".")
    groups: list[str] = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return f"{sign}{' '.join(groups)},{cents}"


def number(value: Decimal, places: int = 3) -> str:
    q = value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    text = f"{q:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",")


def _latin1(text: str) -> str:
    """Core fonts are Latin-1: the few characters outside it are written the way a typewriter would."""
    replaced = text.replace("€", "EUR").replace("–", "-").replace("—", "-").replace("…", "...")
    return replaced.encode("latin-1", "replace").decode("latin-1")


class _Invoice(FPDF):
    def __init__(self, doc: Document) -> None:
        super().__init__(format="A4", unit="mm")
        self.doc = doc
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=18)
        self.set_creation_date(_FIXED_DATE)
        self.set_title(_latin1(f"{document_title(doc.kind)} {doc.number or ''}"))
        self.set_author(_latin1(doc.seller.name))

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("helvetica", size=7)
        s = self.doc.seller
        text = f"{s.name} | {LABELS['business_id']} {s.business_id} | {LABELS['vat_number']} {s.vat_number}"
        self.cell(0, 4, _latin1(text), align="L")
        self.cell(0, 4, f"{self.page_no()}/{{nb}}", align="R")

    def text_at(self, x: float, y: float, text: str, size: float = 9, style: str = "", w: float = 0,
                align: str = "L") -> None:
        self.set_xy(x, y)
        self.set_font("helvetica", style=style, size=size)
        self.cell(w, size * 0.45, _latin1(text), align=align)

    def label_value(self, x: float, y: float, label: str, value: str, w: float = 90) -> None:
        self.text_at(x, y, label, size=7)
        self.text_at(x, y + 3.2, value, size=9.5, style="B", w=w)


def _payment_reference_text(doc: Document) -> str:
    ref = doc.payment_reference or doc.reference or ""
    if not ref:
        return ""
    return format_rf(ref) if ref.startswith("RF") else format_national(ref)


def render_pdf(doc: Document) -> bytes:
    if doc.number is None:
        raise ValueError("only an issued document is rendered")
    pdf = _Invoice(doc)
    pdf.alias_nb_pages()
    pdf.add_page()
    _header(pdf, doc)
    y = _summary(pdf, doc, 92.0)
    _texts(pdf, doc, y)
    if doc.kind is DocumentKind.INVOICE and doc.total > 0:
        _slip(pdf, doc)
    pdf.add_page()
    _specification(pdf, doc)
    return bytes(pdf.output())


def _header(pdf: _Invoice, doc: Document) -> None:
    s, b = doc.seller, doc.buyer
    pdf.text_at(MARGIN, MARGIN, s.name, size=13, style="B")
    y = MARGIN + 7
    for line in [*s.address.lines(), " ".join(x for x in (s.phone, s.email) if x), s.web or ""]:
        if line:
            pdf.text_at(MARGIN, y, line, size=8)
            y += 3.8
    # Buyer in the window of a C5/DL envelope: 20 mm from the left, 45–70 mm from the top.
    y = 48.0
    pdf.text_at(MARGIN + 5, y, b.name, size=10, style="B")
    for line in b.address.lines():
        y += 4.6
        pdf.text_at(MARGIN + 5, y, line, size=10)
    # Key facts on the right.
    x = 115.0
    pdf.text_at(x, MARGIN, document_title(doc.kind, doc.final, doc.original_number is not None and
                                          doc.kind is DocumentKind.INVOICE), size=13, style="B")
    facts = [
        (LABELS["number"], doc.number or ""),
        (LABELS["date"], _fi(doc.invoice_date)),
        (LABELS["period"], f"{_fi(doc.period_start)} - {_fi(doc.last_day)}"),
    ]
    if b.customer_id is not None:
        facts.append((LABELS["customer_number"], str(b.customer_id)))
    if doc.kind is DocumentKind.INVOICE:
        facts += [(LABELS["due"], _fi(doc.due_date)), (LABELS["reference"], _payment_reference_text(doc))]
    else:
        facts += [(LABELS["original"], f"{doc.original_number} ({_fi(doc.original_date)})"),
                  (LABELS["reference"], _payment_reference_text(doc))]
    y = MARGIN + 8
    for label, value in facts:
        pdf.label_value(x, y, label, value)
        y += 8.6


def _summary(pdf: _Invoice, doc: Document, y: float) -> float:
    pdf.set_draw_color(120, 120, 120)
    pdf.line(MARGIN, y - 2, A4_W - MARGIN, y - 2)
    credit = doc.kind is DocumentKind.CREDIT_NOTE
    pdf.text_at(MARGIN, y, LABELS["vat_rate"], size=7.5, style="B", w=30)
    pdf.text_at(MARGIN + 30, y, LABELS["vat_base"], size=7.5, style="B", w=45, align="R")
    pdf.text_at(MARGIN + 75, y, LABELS["vat"], size=7.5, style="B", w=35, align="R")
    pdf.text_at(MARGIN + 110, y, LABELS["incl_vat"], size=7.5, style="B", w=40, align="R")
    y += 4.5
    for row in doc.vat:
        pdf.text_at(MARGIN, y, f"{number(row.rate, 1)} %", size=8.5, w=30)
        pdf.text_at(MARGIN + 30, y, f"{money(row.base)} EUR", size=8.5, w=45, align="R")
        pdf.text_at(MARGIN + 75, y, f"{money(row.vat)} EUR", size=8.5, w=35, align="R")
        pdf.text_at(MARGIN + 110, y, f"{money(row.base + row.vat)} EUR", size=8.5, w=40, align="R")
        y += 4.2
    y += 1.5
    for label, value, style in (
        (LABELS["excl_vat"], doc.total_excl_vat, ""),
        (LABELS["vat"], doc.total_vat, ""),
        (LABELS["total_credit"] if credit else LABELS["total"], doc.total, "B"),
    ):
        pdf.text_at(MARGIN + 60, y, label, size=9, style=style, w=60)
        pdf.text_at(MARGIN + 110, y, f"{money(value)} EUR", size=9 if not style else 11, style=style, w=40,
                    align="R")
        y += 5
    if doc.electricity_tax is not None:
        tax = doc.electricity_tax
        pdf.text_at(MARGIN, y, f"{LABELS['electricity_tax']}: {LABELS['tax_basis']} {number(tax.basis_kwh)} kWh, "
                               f"{money(tax.amount)} EUR ({LABELS['excl_vat'].lower()})", size=8)
        y += 4.5
    for c in doc.consumption:
        previous = "" if c.previous_year is None else (
            f", {LABELS['previous_year'].lower()} {number(c.previous_year)} {c.unit}")
        pdf.text_at(MARGIN, y, f"{LABELS['consumption']} {c.accounting_point}: {number(c.quantity)} {c.unit}"
                               f"{previous}", size=8)
        y += 4
    for k in doc.contracts:
        until = _fi(k.valid_to) if k.valid_to else LABELS["until_further"]
        term = " (määräaikainen / fixed term)" if k.fixed_term else ""
        pdf.text_at(MARGIN, y, f"{LABELS['contract']} {k.accounting_point}: {k.product}, {LABELS['valid'].lower()} "
                               f"{_fi(k.valid_from)} - {until}{term}", size=8)
        y += 4
    return y + 2


def _texts(pdf: _Invoice, doc: Document, y: float) -> None:
    bottom = SLIP_TOP - 4 if doc.kind is DocumentKind.INVOICE and doc.total > 0 else A4_H - 22
    texts = []
    if doc.original_number and doc.kind is DocumentKind.INVOICE:
        texts.append(f"{LABELS['original']}: {doc.original_number} ({_fi(doc.original_date)})")
    if doc.reason:
        texts.append(f"{LABELS['reason']}: {doc.reason}")
    if doc.seller.complaint_text:
        texts.append(f"{LABELS['complaints']}: {doc.seller.complaint_text}")
    if doc.seller.dispute_text:
        texts.append(f"{LABELS['disputes']}: {doc.seller.dispute_text}")
    pdf.set_font("helvetica", size=7.5)
    for text in texts:
        if y > bottom - 6:
            break
        pdf.set_xy(MARGIN, y)
        pdf.multi_cell(A4_W - 2 * MARGIN, 3.4, _latin1(text))
        y = pdf.get_y() + 1.2


def _slip(pdf: _Invoice, doc: Document) -> None:
    """The bank transfer form (tilisiirto) at the foot of page 1."""
    s, b = doc.seller, doc.buyer
    top = SLIP_TOP
    pdf.set_auto_page_break(False)
    pdf.set_draw_color(0, 0, 0)
    pdf.set_dash_pattern(dash=1.5, gap=1.0)
    pdf.line(0, top - 2, A4_W, top - 2)
    pdf.set_dash_pattern()
    pdf.label_value(MARGIN, top + 1, LABELS["account"], f"{_iban(s.iban)}   BIC {s.bic}", w=120)
    pdf.label_value(MARGIN, top + 10, LABELS["payee"], s.name, w=120)
    pdf.text_at(MARGIN, top + 19, LABELS["payer"], size=7)
    pdf.text_at(MARGIN, top + 22.2, b.name, size=9)
    for i, line in enumerate(b.address.lines()):
        pdf.text_at(MARGIN, top + 26 + 3.8 * i, line, size=9)
    pdf.label_value(110, top + 19, LABELS["reference"], _payment_reference_text(doc), w=80)
    pdf.label_value(110, top + 28, LABELS["due"], _fi(doc.due_date), w=40)
    pdf.label_value(150, top + 28, "Euro", money(doc.total), w=40)
    if doc.barcode:
        y = top + 44
        pdf.text_at(MARGIN, y, LABELS["barcode"], size=7)
        pdf.text_at(MARGIN, y + 3, doc.barcode, size=8.5)
        modules = code128_modules(doc.barcode)
        x0, y0 = MARGIN + 6.4, y + 8  # quiet zone of at least 6.4 mm on the left
        pdf.set_fill_color(0, 0, 0)
        run = 0
        for i, module in enumerate(modules + "0"):
            if module == "1":
                run += 1
            elif run:
                pdf.rect(x0 + (i - run) * MODULE_MM, y0, run * MODULE_MM, BAR_HEIGHT, style="F")
                run = 0
    rf = doc.reference_rf or (doc.payment_reference if (doc.payment_reference or "").startswith("RF") else None)
    payload = None if rf is None else epc_payload(name=s.name, iban=s.iban, bic=s.bic, amount=doc.total,
                                                  rf_reference=rf, due=doc.due_date)
    if payload is not None:
        matrix = qr_matrix(payload)
        size = len(matrix) * QR_MODULE_MM
        x0, y0 = A4_W - MARGIN - size, top + 40
        pdf.set_fill_color(0, 0, 0)
        for r, row in enumerate(matrix):  # one rectangle per run of dark modules in a row
            c = 0
            while c < len(row):
                if not row[c]:
                    c += 1
                    continue
                run = c
                while run < len(row) and row[run]:
                    run += 1
                pdf.rect(x0 + c * QR_MODULE_MM, y0 + r * QR_MODULE_MM, (run - c) * QR_MODULE_MM, QR_MODULE_MM,
                         style="F")
                c = run
        pdf.text_at(x0, y0 + size + 1, "QR-maksu / Pay with QR", size=6.5)
    pdf.set_auto_page_break(True, margin=18)


def _iban(iban: str) -> str:
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))


_COLUMNS = (("description", 78, "L"), ("period", 30, "L"), ("quantity", 22, "R"), ("unit_price", 20, "R"),
            ("vat_rate", 12, "R"), ("amount", 18, "R"))


def _specification(pdf: _Invoice, doc: Document) -> None:
    pdf.text_at(MARGIN, MARGIN, f"{LABELS['description']} - {document_title(doc.kind)} {doc.number}", size=11,
                style="B")
    pdf.set_y(MARGIN + 8)

    def header_row() -> None:
        pdf.set_font("helvetica", style="B", size=7)
        heads = {"description": LABELS["description"], "period": "Kausi / Period", "quantity": LABELS["quantity"],
                 "unit_price": "À-hinta / Price", "vat_rate": "ALV %", "amount": "EUR (alv 0)"}
        for key, width, align in _COLUMNS:
            pdf.cell(width, 5, _latin1(heads[key]), border="B", align=align)  # type: ignore[arg-type]
        pdf.ln(6)

    header_row()
    point = None
    for line in doc.lines:
        if pdf.will_page_break(8):
            pdf.add_page()
            pdf.set_y(MARGIN)
            header_row()
        if line.accounting_point != point and line.accounting_point:
            point = line.accounting_point
            pdf.set_font("helvetica", style="B", size=7.5)
            pdf.cell(0, 4.5, _latin1(f"{LABELS['accounting_point']} {point}"))
            pdf.ln(4.5)
        pdf.set_font("helvetica", size=7.5)
        flags = f" ({', '.join(line.flags)})" if line.flags else ""
        period = f"{_fi(line.period_start)}-{_fi(line.period_end and _day_before(line.period_end))}" \
            if line.period_start else ""
        quantity = f"{number(line.quantity)} {line.unit}" if line.quantity is not None and line.unit else ""
        price = number(line.unit_price, 6) if line.unit_price is not None else ""
        cells = {"description": (line.description + flags)[:60], "period": period, "quantity": quantity,
                 "unit_price": price, "vat_rate": number(line.vat_rate, 1), "amount": money(line.amount)}
        for key, width, align in _COLUMNS:
            pdf.cell(width, 4.2, _latin1(cells[key]), align=align)  # type: ignore[arg-type]
        pdf.ln(4.2)
    pdf.ln(2)
    pdf.set_font("helvetica", style="B", size=8)
    pdf.cell(sum(w for _, w, _ in _COLUMNS[:-1]), 5, _latin1(LABELS["excl_vat"]), border="T")
    pdf.cell(_COLUMNS[-1][1], 5, money(doc.total_excl_vat), border="T", align="R")


def _day_before(day: date) -> date:
    return day - timedelta(days=1)
