"""Code values of Datahub 2.3.4.0 messages, named in one place.

Values are the schema enumerations (`schemas/datahub-2.3.4.0/common/DataTypes.xsd`). Meanings come from
Fingrid's message documentation as quoted in `docs/market.md`; those marked (unverified) there are
kept as names only, and any behaviour depending on them belongs in configuration.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class DocumentType(StrEnum):
    ACK = "ACK"
    E58 = "E58"
    E66 = "E66"
    F01 = "F01"
    F03 = "F03"
    F04 = "F04"
    F06 = "F06"
    F08 = "F08"


class AckReasonCode(StrEnum):
    """`ReasonCode` of an ACK (meaning inferred from Datahub's own mapping; unverified)."""

    ACCEPTED = "BA01"
    REJECTED = "BA02"
    PARTIALLY_ACCEPTED = "BA03"


# What an ACK's reason code says about the message it answers: the status in our registries, both ways.
ACK_STATUS: Final[dict[str, str]] = {
    AckReasonCode.ACCEPTED: "accepted",
    AckReasonCode.REJECTED: "rejected",
    AckReasonCode.PARTIALLY_ACCEPTED: "partially_accepted",
}


class Role(StrEnum):
    """`EnergyBusinessProcessRole`."""

    GRID_OPERATOR = "DDM"
    SUPPLIER = "DDQ"
    BALANCE_RESPONSIBLE = "DDZ"
    THIRD_PARTY = "ESC"
    METERED_DATA_RESPONSIBLE = "MDR"
    MIA = "MIA"
    Z08 = "Z08"


ENERGY_INDUSTRY_CLASSIFICATION: Final = "23"


class Process(StrEnum):
    """The `EnergyBusinessProcess` codes this gateway uses by name (the schema lists many more)."""

    CUSTOMER_INFO = "DH-111-1"
    ACCOUNTING_POINT_INFO = "DH-121"
    ACCOUNTING_POINT_QUERY = "DH-132-1"
    METERING_DATA = "DH-211"
    METERING_DATA_REQUEST = "DH-221"
    NEW_SALES_AGREEMENT = "DH-311-1"
    AGREEMENT_END_NOTICE = "DH-311-3"
    SALES_AGREEMENT_UPDATE = "DH-312-1"
    AGREEMENT_END = "DH-321-1"


class Quality(StrEnum):
    """`QQ` observation quality (Datahub mapping; unverified). Absent QQ means measured and OK."""

    REVISED = "Z01"
    UNCERTAIN = "Z02"
    ESTIMATED = "99"
    PARTIALLY_MISSING = "Z04"
    SETTLEMENT_21 = "21"
    SETTLEMENT_56 = "56"


class Resolution(StrEnum):
    QUARTER_HOUR = "PT15M"
    HOUR = "PT1H"
    DAY = "P1D"
    MONTH = "P1M"
    YEAR = "P1Y"


class Product(StrEnum):
    """E66 `ProductIncludedProductCharacteristic/Identification` (ebIX product codes)."""

    ACTIVE_ENERGY = "8716867000030"
    REACTIVE_ENERGY = "8716867000047"
    REACTIVE_ENERGY_139 = "8716867000139"
    REACTIVE_ENERGY_146 = "8716867000146"


ACTIVE_ENERGY_UNITS: Final = frozenset({"Wh", "kWh", "MWh", "GWh"})
REACTIVE_ENERGY_UNITS: Final = frozenset({"varh", "kvarh", "Mvarh", "Gvarh"})

UNITS_BY_PRODUCT: Final[dict[str, frozenset[str]]] = {
    Product.ACTIVE_ENERGY: ACTIVE_ENERGY_UNITS,
    Product.REACTIVE_ENERGY: REACTIVE_ENERGY_UNITS,
    Product.REACTIVE_ENERGY_139: REACTIVE_ENERGY_UNITS,
    Product.REACTIVE_ENERGY_146: REACTIVE_ENERGY_UNITS,
}


class MeteringPointType(StrEnum):
    """E66 `MeteringPointType` values of the schema (ebIX-style; Datahub's meanings unverified)."""

    F01 = "F01"
    E18 = "E18"
    E20 = "E20"


class AccountingPointType(StrEnum):
    """E58/F08 `MeteringPointType`/`AccountingPointType` AG01 consumption, AG02 production."""

    CONSUMPTION = "AG01"
    PRODUCTION = "AG02"


class MeteringMethod(StrEnum):
    """E58 `MeteringMethod`: E13 interval metered, E14 read (profiled), E16 unmetered."""

    INTERVAL = "E13"
    READING = "E14"
    UNMETERED = "E16"


class CustomerIdentificationType(StrEnum):
    """`IdentificationType` of a customer (Datahub F01 documentation)."""

    BUSINESS_ID = "AA01"
    PERSONAL_IDENTITY_CODE = "AA03"
    PARTY_OWN_ID = "AA04"


class CustomerType(StrEnum):
    COMPANY = "AB01"
    CONSUMER = "AB02"


class CommunicationChannel(StrEnum):
    PHONE = "AD01"
    EMAIL = "AD02"


class ContractType(StrEnum):
    """F04/F06 `ContractType` 11/12 (meaning not documented in the schema; unverified)."""

    TYPE_11 = "11"
    TYPE_12 = "12"


SCHEME_GS1: Final = "9"
SCHEME_EIC: Final = "305"
SCHEME_NATIONAL: Final = "260"
SCHEME_ISO: Final = "5"
LIST_AGENCY_NFI: Final = "NFI"
