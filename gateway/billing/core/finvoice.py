"""Finvoice 3.0 (Finance Finland) from an issued ``Document``, and its validation against the official XSD.

Shape (docs/market.md §4.4, schema in ``schemas/finvoice-3.0``): root ``Finvoice Version="3.0"`` without a
namespace; dates ``Format="CCYYMMDD"``; amounts with a decimal comma and ``AmountCurrencyIdentifier="EUR"``;
``EpiInstructedAmount`` with exactly two decimals; VAT percentages like ``25,5``. ``INV01`` is an invoice,
``INV02`` a credit note that names the credited invoice in ``OriginalInvoiceNumber``. The virtual barcode is a
child of the root between the invoice details and the first row. ``MessageTransmissionDetails`` is written
only when both ends of an e-invoice route are known (the seller's OVT and operator, the buyer's address and
operator); a printed invoice goes to the provider without it.

A credit note asks for no payment: its ``EpiInstructedAmount`` is ``0,00`` and it has no barcode; its totals
are negative. Unit prices are informative and carry at most five decimals (the schema's limit); the row and
invoice amounts are exact cents.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from lxml import etree

from gateway.billing.core.model import CustomerType, Document, DocumentKind, ReferenceScheme
from gateway.billing.core.texts import LABELS, document_title
from gateway.xml.schemas import SchemaIssue, default_registry

VERSION = "3.0"
EUR = "EUR"
_TWO = Decimal("0.01")
_FIVE = Decimal("0.00001")


class FinvoiceInvalid(ValueError):
    """A built Finvoice that the XSD refuses; ``issues`` says where (it must never leave the system)."""

    def __init__(self, issues: Sequence[SchemaIssue]) -> None:
        shown = "; ".join(f"line {i.line}: {i.text}" for i in issues[:5])
        super().__init__(f"Finvoice does not validate against Finvoice3.0.xsd: {shown}")
        self.issues = list(issues)


def amount_text(value: Decimal) -> str:
    text = f"{value.quantize(_TWO, ROUND_HALF_UP):f}".replace(".", ",")
    return text[1:] if text == "-0,00" else text


def unit_price_text(value: Decimal) -> str:
    """2–5 decimals with a comma (Finvoice unitAmountType)."""
    q = value.quantize(_FIVE, ROUND_HALF_UP)
    text = f"{q:f}"
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"{whole},{frac}"


def percent_text(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text.replace(".", ",")


def quantity_text(value: Decimal, limit: int = 14) -> str:
    """At most ``limit`` characters (QuantityType0_14): fewer decimals for very large quantities."""
    for places in (6, 5, 4, 3, 2, 1, 0):
        q = value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
        text = f"{q:f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        text = text.replace(".", ",")
        if len(text) <= limit:
            return text
    raise ValueError(f"quantity {value} does not fit {limit} characters")


def date_text(day: date) -> str:
    return day.strftime("%Y%m%d")


def _clip(text: str, limit: int, minimum: int = 0) -> str:
    clipped = " ".join(text.split())[:limit]
    return clipped.ljust(minimum, ".") if len(clipped) < minimum else clipped


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _amount(parent: etree._Element, tag: str, value: Decimal) -> None:
    _sub(parent, tag, amount_text(value), AmountCurrencyIdentifier=EUR)


def _date(parent: etree._Element, tag: str, day: date) -> None:
    _sub(parent, tag, date_text(day), Format="CCYYMMDD")


def _fi_date(day: date) -> str:
    return f"{day.day}.{day.month}.{day.year}"


def build_finvoice(doc: Document, *, timestamp: datetime | None = None) -> bytes:
    """The Finvoice XML of an issued document (number, references and due date set)."""
    if doc.number is None or doc.reference is None or doc.due_date is None:
        raise ValueError("only an issued document (number, reference, due date) becomes a Finvoice")
    seller, buyer = doc.seller, doc.buyer
    credit = doc.kind is DocumentKind.CREDIT_NOTE
    root = etree.Element("Finvoice", Version=VERSION)

    if seller.finvoice_address and seller.finvoice_operator and buyer.e_invoice_address and buyer.e_invoice_operator:
        mtd = _sub(root, "MessageTransmissionDetails")
        sender = _sub(mtd, "MessageSenderDetails")
        _sub(sender, "FromIdentifier", seller.finvoice_address)
        _sub(sender, "FromIntermediator", seller.finvoice_operator)
        receiver = _sub(mtd, "MessageReceiverDetails")
        _sub(receiver, "ToIdentifier", buyer.e_invoice_address)
        _sub(receiver, "ToIntermediator", buyer.e_invoice_operator)
        details = _sub(mtd, "MessageDetails")
        _sub(details, "MessageIdentifier", f"{seller.entity_id}-{doc.number}"[:48])
        stamp = timestamp or datetime.combine(doc.invoice_date, datetime.min.time())
        _sub(details, "MessageTimeStamp", stamp.replace(microsecond=0).isoformat())

    party = _sub(root, "SellerPartyDetails")
    _sub(party, "SellerPartyIdentifier", seller.business_id)
    _sub(party, "SellerOrganisationName", _clip(seller.name, 70, 2))
    _sub(party, "SellerOrganisationTaxCode", seller.vat_number)
    address = _sub(party, "SellerPostalAddressDetails")
    _sub(address, "SellerStreetName", _clip(seller.address.street or "-", 35, 2))
    _sub(address, "SellerTownName", _clip(seller.address.city or "-", 35, 2))
    _sub(address, "SellerPostCodeIdentifier", _clip(seller.address.postcode or "-", 35, 2))
    _sub(address, "CountryCode", seller.address.country)
    if seller.phone or seller.email:
        comm = _sub(root, "SellerCommunicationDetails")
        if seller.phone:
            _sub(comm, "SellerPhoneNumberIdentifier", _clip(seller.phone, 35))
        if seller.email:
            _sub(comm, "SellerEmailaddressIdentifier", _clip(seller.email, 70))
    info = _sub(root, "SellerInformationDetails")
    if seller.home_town:
        _sub(info, "SellerHomeTownName", _clip(seller.home_town, 35))
    _sub(info, "SellerVatRegistrationText", "Alv.Rek.")
    if seller.web:
        _sub(info, "SellerWebaddressIdentifier", _clip(seller.web, 70))
    account = _sub(info, "SellerAccountDetails")
    _sub(account, "SellerAccountID", seller.iban, IdentificationSchemeName="IBAN")
    _sub(account, "SellerBic", seller.bic, IdentificationSchemeName="BIC")

    buyer_party = _sub(root, "BuyerPartyDetails")
    if buyer.customer_type is CustomerType.BUSINESS and buyer.business_id:
        _sub(buyer_party, "BuyerPartyIdentifier", buyer.business_id)
    _sub(buyer_party, "BuyerOrganisationName", _clip(buyer.name, 70, 2))
    if buyer.address.complete:
        buyer_address = _sub(buyer_party, "BuyerPostalAddressDetails")
        _sub(buyer_address, "BuyerStreetName", _clip(buyer.address.street or "", 35, 2))
        _sub(buyer_address, "BuyerTownName", _clip(buyer.address.city or "", 35, 2))
        _sub(buyer_address, "BuyerPostCodeIdentifier", _clip(buyer.address.postcode or "", 35, 2))
        _sub(buyer_address, "CountryCode", buyer.address.country)
    if buyer.email:
        _sub(_sub(root, "BuyerCommunicationDetails"), "BuyerEmailaddressIdentifier", _clip(buyer.email, 70))

    details = _sub(root, "InvoiceDetails")
    _sub(details, "InvoiceTypeCode", "INV02" if credit else "INV01")
    _sub(details, "InvoiceTypeText", document_title(doc.kind, doc.final, doc.original_number is not None)[:35])
    _sub(details, "OriginCode", "Original")
    _sub(details, "InvoiceNumber", doc.number)
    _date(details, "InvoiceDate", doc.invoice_date)
    if doc.original_number:
        _sub(details, "OriginalInvoiceNumber", doc.original_number)
        if doc.original_date:
            _date(details, "OriginalInvoiceDate", doc.original_date)
    _date(details, "InvoicingPeriodStartDate", doc.period_start)
    _date(details, "InvoicingPeriodEndDate", doc.last_day)
    if buyer.customer_id is not None:
        _sub(details, "SellersBuyerIdentifier", str(buyer.customer_id))
    for code, header, value, unit in _definitions(doc):
        definition = _sub(details, "DefinitionDetails")
        _sub(definition, "DefinitionHeaderText", _clip(header, 70), DefinitionCode=code)
        attrs = {"QuantityUnitCode": unit} if unit else {}
        _sub(definition, "DefinitionValue", _clip(value, 70), **attrs)
    _amount(details, "RowsTotalVatExcludedAmount", doc.total_excl_vat)
    _amount(details, "InvoiceTotalVatExcludedAmount", doc.total_excl_vat)
    _amount(details, "InvoiceTotalVatAmount", doc.total_vat)
    _amount(details, "InvoiceTotalVatIncludedAmount", doc.total)
    for vat_row in doc.vat:
        spec = _sub(details, "VatSpecificationDetails")
        _amount(spec, "VatBaseAmount", vat_row.base)
        _sub(spec, "VatRatePercent", percent_text(vat_row.rate))
        _amount(spec, "VatRateAmount", vat_row.vat)
    for text in _free_texts(doc):
        _sub(details, "InvoiceFreeText", _clip(text, 512))
    terms = _sub(details, "PaymentTermsDetails")
    terms_text = "Hyvityslasku, ei maksettavaa" if credit else f"{doc.payment_term_days} pv netto"
    _sub(terms, "PaymentTermsFreeText", terms_text)
    _date(terms, "InvoiceDueDate", doc.due_date)

    if doc.barcode and not credit:
        _sub(root, "VirtualBankBarcode", doc.barcode)

    for line in doc.lines:
        row = _sub(root, "InvoiceRow")
        if line.product_code:
            _sub(row, "ArticleIdentifier", _clip(line.product_code, 70))
        _sub(row, "ArticleName", _clip(line.description, 100))
        if line.quantity is not None and line.unit:
            _sub(row, "InvoicedQuantity", quantity_text(line.quantity), QuantityUnitCode=line.unit[:14])
        if line.period_start is not None:
            _date(row, "StartDate", line.period_start)
        if line.period_end is not None:
            _date(row, "EndDate", line.period_end - timedelta(days=1))
        if line.unit_price is not None:
            _sub(row, "UnitPriceAmount", unit_price_text(line.unit_price), AmountCurrencyIdentifier=EUR)
        free = [f"{LABELS['accounting_point']}: {line.accounting_point}"] if line.accounting_point else []
        free += [f"({flag})" for flag in line.flags]
        for text in free:
            _sub(row, "RowFreeText", _clip(text, 512))
        _sub(row, "RowVatRatePercent", percent_text(line.vat_rate))
        _amount(row, "RowVatExcludedAmount", line.amount)

    epi = _sub(root, "EpiDetails")
    ident = _sub(epi, "EpiIdentificationDetails")
    _date(ident, "EpiDate", doc.invoice_date)
    _sub(ident, "EpiReference", doc.number)
    parties = _sub(epi, "EpiPartyDetails")
    _sub(_sub(parties, "EpiBfiPartyDetails"), "EpiBfiIdentifier", seller.bic, IdentificationSchemeName="BIC")
    beneficiary = _sub(parties, "EpiBeneficiaryPartyDetails")
    _sub(beneficiary, "EpiNameAddressDetails", _clip(seller.name, 35, 2))
    _sub(beneficiary, "EpiBei", seller.business_id.replace("-", ""))
    _sub(beneficiary, "EpiAccountID", seller.iban, IdentificationSchemeName="IBAN")
    instruction = _sub(epi, "EpiPaymentInstructionDetails")
    rf = doc.reference_scheme is ReferenceScheme.RF
    payment_reference = doc.payment_reference or doc.reference
    _sub(instruction, "EpiRemittanceInfoIdentifier", payment_reference,
         IdentificationSchemeName="ISO" if rf else "SPY")
    _sub(instruction, "EpiInstructedAmount", amount_text(Decimal(0) if credit else doc.total),
         AmountCurrencyIdentifier=EUR)
    _sub(instruction, "EpiCharge", "SHA", ChargeOption="SHA")
    _date(instruction, "EpiDateOptionDate", doc.due_date)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _definitions(doc: Document) -> list[tuple[str, str, str, str | None]]:
    found: list[tuple[str, str, str, str | None]] = []
    for c in doc.consumption:
        found.append(("CONSUMPTION", f"{LABELS['consumption']} {c.accounting_point}", quantity_text(c.quantity, 70),
                      c.unit))
        if c.previous_year is not None:
            found.append(("CONSUMPTION_PY", f"{LABELS['previous_year']} {c.accounting_point}",
                          quantity_text(c.previous_year, 70), c.unit))
    for k in doc.contracts:
        until = _fi_date(k.valid_to) if k.valid_to else LABELS["until_further"]
        since = _fi_date(k.valid_from) if k.valid_from else "?"
        found.append(("CONTRACT", f"{LABELS['contract']} {k.accounting_point}: {k.product}"[:70],
                      f"{since} - {until}", None))
    if doc.electricity_tax is not None:
        found.append(("ELTAX_BASIS", LABELS["tax_basis"] + " (" + LABELS["electricity_tax"] + ")",
                      quantity_text(doc.electricity_tax.basis_kwh, 70), "kWh"))
        found.append(("ELTAX_AMOUNT", LABELS["electricity_tax"], amount_text(doc.electricity_tax.amount), "EUR"))
    return found


def _free_texts(doc: Document) -> list[str]:
    texts = []
    if doc.reason:
        texts.append(f"{LABELS['reason']}: {doc.reason}")
    if doc.seller.complaint_text:
        texts.append(doc.seller.complaint_text)
    if doc.seller.dispute_text:
        texts.append(doc.seller.dispute_text)
    return texts


def finvoice_issues(xml: bytes) -> list[SchemaIssue]:
    """Every XSD error of a built Finvoice (empty when it is valid)."""
    tree = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    return default_registry().validate(tree)


def validated_finvoice(doc: Document, *, timestamp: datetime | None = None) -> bytes:
    """``build_finvoice`` that raises ``FinvoiceInvalid`` instead of returning a document the XSD refuses."""
    xml = build_finvoice(doc, timestamp=timestamp)
    issues = finvoice_issues(xml)
    if issues:
        raise FinvoiceInvalid(issues)
    return xml
