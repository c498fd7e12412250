"""F01 customer master data (DH-111..113) and the party records shared with F04/F06."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from gateway.domain.identifiers import CustomerIdentifier
from gateway.domain.message import DatahubMessage


@dataclass(frozen=True, slots=True)
class PostalAddress:
    """A customer or invoicing postal address (`ConsumerInvolvedCustomerAddress`, `InvoicingAddress`)."""

    care_of: str | None = None
    street_name: str | None = None
    building_number: str | None = None
    floor: str | None = None
    room: str | None = None
    postcode: str | None = None
    po_box: str | None = None
    city: str | None = None
    country_code: str | None = None


@dataclass(frozen=True, slots=True)
class Communication:
    """A phone number (AD01) or an e-mail address (AD02)."""

    channel: str | None
    value: str | None


@dataclass(frozen=True, slots=True)
class Customer:
    """`ConsumerInvolvedCustomerParty`. A personal identity code is a masked `PersonalIdentityCode`.

    `identification` is optional only in F06 end notices; F01 and F04 always carry it.
    """

    identification: CustomerIdentifier | None
    identification_type: str
    customer_type: str
    customer_subtype: str | None = None
    alternate_identification: str | None = None
    information_restriction: bool | None = None
    language: str | None = None
    name: str | None = None
    given_name: str | None = None
    middle_name: str | None = None
    family_name: str | None = None
    date_of_birth: date | None = None
    additional_code: str | None = None
    communications: tuple[Communication, ...] = ()
    address: PostalAddress | None = None

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        return " ".join(p for p in (self.given_name, self.middle_name, self.family_name) if p)


@dataclass(frozen=True, slots=True)
class CustomerEvent:
    """One F01 transaction: the customer's data from `start_of_occurrence` on."""

    start_of_occurrence: datetime
    customer: Customer
    description: str | None = None
    original_business_document_reference: str | None = None

    @property
    def transaction_id(self) -> None:
        return None


F01Message = DatahubMessage[CustomerEvent]
