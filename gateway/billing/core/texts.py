"""Printed names of charges and document labels: Finnish first, English alongside."""

from __future__ import annotations

from gateway.billing.core.model import DocumentKind

COMPONENTS: dict[str, tuple[str, str]] = {
    "energy": ("Energia", "Energy"),
    "energy_fixed": ("Energia, kiinteä hinta", "Energy, fixed price"),
    "energy_day": ("Päiväenergia", "Day energy"),
    "energy_night": ("Yöenergia", "Night energy"),
    "energy_winter_weekday": ("Talviarkipäivän energia", "Winter weekday energy"),
    "energy_other": ("Muun ajan energia", "Other time energy"),
    "spot_energy": ("Pörssisähkö", "Spot-price energy"),
    "spot_margin": ("Marginaali", "Margin"),
    "basic_fee": ("Perusmaksu", "Basic fee"),
    "power_fee": ("Tehomaksu", "Power fee"),
    "electricity_tax": ("Sähkövero ja huoltovarmuusmaksu", "Electricity tax and security of supply fee"),
}
NETWORK_COMPONENTS: dict[str, tuple[str, str]] = {
    "energy": ("Siirtomaksu", "Distribution fee"),
    "energy_day": ("Siirtomaksu, päivä", "Distribution fee, day"),
    "energy_night": ("Siirtomaksu, yö", "Distribution fee, night"),
    "energy_winter_weekday": ("Siirtomaksu, talviarkipäivä", "Distribution fee, winter weekday"),
    "energy_other": ("Siirtomaksu, muu aika", "Distribution fee, other time"),
}
MONTHS_FI = ("tammikuu", "helmikuu", "maaliskuu", "huhtikuu", "toukokuu", "kesäkuu", "heinäkuu", "elokuu",
             "syyskuu", "lokakuu", "marraskuu", "joulukuu")
ADJUSTMENTS: dict[str, tuple[str, str]] = {
    "reminder_fee": ("Muistutusmaksu", "Reminder fee"),
    "late_interest": ("Viivästyskorko", "Late interest"),
    "credit": ("Hyvitys", "Credit"),
    "carried_delta": ("Oikaisu", "Correction"),
}


def component_label(component: str, segment: str | None = None) -> str:
    if segment == "network" and component in NETWORK_COMPONENTS:
        fi, en = NETWORK_COMPONENTS[component]
    elif component in COMPONENTS:
        fi, en = COMPONENTS[component]
    elif component.startswith("energy_m") and component[8:].isdigit():
        month = int(component[8:])
        fi, en = f"Energia, {MONTHS_FI[month - 1]}", f"Energy, month {month}"
    elif component.startswith("energy_"):
        season = component[7:].replace("_", " ")
        fi, en = f"Energia, {season}", f"Energy, {season}"
    else:
        fi = en = component.replace("_", " ")
    return f"{fi} / {en}"


def adjustment_label(kind: str) -> str:
    fi, en = ADJUSTMENTS.get(kind, (kind, kind))
    return f"{fi} / {en}"


def document_title(kind: DocumentKind, final: bool = False, correction: bool = False) -> str:
    if kind is DocumentKind.CREDIT_NOTE:
        return "HYVITYSLASKU / CREDIT NOTE"
    if final:
        return "LOPPULASKU / FINAL INVOICE"
    if correction:
        return "OIKAISULASKU / CORRECTED INVOICE"
    return "LASKU / INVOICE"


LABELS: dict[str, str] = {
    "number": "Laskun numero / Invoice number",
    "date": "Laskun päivä / Invoice date",
    "due": "Eräpäivä / Due date",
    "reference": "Viitenumero / Reference",
    "period": "Laskutuskausi / Billing period",
    "account": "Tilinumero / Account (IBAN)",
    "bic": "BIC",
    "total": "Maksettava yhteensä / Amount due",
    "total_credit": "Hyvitys yhteensä / Total credit",
    "excl_vat": "Veroton / Excl. VAT",
    "vat": "ALV / VAT",
    "incl_vat": "Verollinen / Incl. VAT",
    "vat_base": "Veron peruste / VAT base",
    "vat_rate": "ALV % / VAT %",
    "business_id": "Y-tunnus / Business ID",
    "vat_number": "ALV-numero / VAT number",
    "customer_number": "Asiakasnumero / Customer number",
    "accounting_point": "Käyttöpaikka / Accounting point",
    "consumption": "Kulutus / Consumption",
    "previous_year": "Vuotta aiemmin / A year earlier",
    "contract": "Sopimus / Contract",
    "valid": "Voimassa / Valid",
    "until_further": "toistaiseksi / until further notice",
    "electricity_tax": "Sähkövero / Electricity tax",
    "tax_basis": "Veron peruste / Tax basis",
    "original": "Hyvitettävä lasku / Credited invoice",
    "reason": "Syy / Reason",
    "complaints": "Huomautukset / Complaints",
    "disputes": "Riita-asiat / Disputes",
    "barcode": "Virtuaaliviivakoodi / Virtual barcode",
    "payee": "Saaja / Payee",
    "payer": "Maksaja / Payer",
    "description": "Erittely / Description",
    "quantity": "Määrä / Quantity",
    "unit_price": "À-hinta / Unit price",
    "amount": "Summa / Amount",
}
