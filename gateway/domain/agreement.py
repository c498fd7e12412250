"""F04 sales agreement events (new agreement, update, cancellation) and F06 agreement end notices.

The same classes serve both directions: the gateway builds F04/F06 to notify Datahub of a supplier
switch, move-in or termination, and receives them when another party's action concerns us.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.domain.customer import Communication, Customer, PostalAddress
from gateway.domain.message import DatahubMessage


@dataclass(frozen=True, slots=True)
class ElectronicInvoiceAddress:
    """`ElectronicInvoiceAddressDetails`: the customer's e-invoice address and its operator (router)."""

    address: str
    router: str
    target_id: str | None = None


@dataclass(frozen=True, slots=True)
class OtherInvoicingAddress:
    """`OtherInvoicingAddresses` (AddressType AM01/AM02 + free text)."""

    address_type: str
    address: str


@dataclass(frozen=True, slots=True)
class AgreementContact:
    """`Contact` of an agreement (ContactType AL01..AL05)."""

    contact_type: str
    given_name: str | None = None
    family_name: str | None = None
    name: str | None = None
    communications: tuple[Communication, ...] = ()


@dataclass(frozen=True, slots=True)
class NoticePeriod:
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class AgreementDetails:
    """`MasterDataContract` of an F04: the agreement itself."""

    contact_type: str
    agreement_id: str
    contract_type: str
    invoicing_method: str
    priority: bool
    invoicing_channel: str
    delivery_contract: bool | None = None
    time_limited: bool | None = None
    fixed_contract_start: datetime | None = None
    fixed_contract_end: datetime | None = None
    notice_basis: bool | None = None
    notice_days: int | None = None
    notice_period: NoticePeriod | None = None
    tax_category: str | None = None
    product_codes: tuple[str, ...] = ()
    customer_note: str | None = None
    contacts: tuple[AgreementContact, ...] = ()
    invoicing_address: PostalAddress | None = None
    electronic_invoice: ElectronicInvoiceAddress | None = None
    other_invoicing_address: OtherInvoicingAddress | None = None
    supplier: str | None = None
    customers: tuple[Customer, ...] = ()


@dataclass(frozen=True, slots=True)
class SalesAgreementEvent:
    """One F04 transaction (DH-311-1 new agreement, DH-312-1 update, DH-321/322 cancellation …)."""

    accounting_point: str
    grid_area: str
    start_of_occurrence: datetime | None = None
    end_of_occurrence: datetime | None = None
    agreement: AgreementDetails | None = None
    transfer_contract_needed: bool | None = None
    contract_reason: str | None = None
    contract_confirm: bool | None = None
    description: str | None = None
    original_business_document_reference: str | None = None
    original_business_document_sender: str | None = None

    @property
    def transaction_id(self) -> None:
        return None

    @property
    def agreement_id(self) -> str | None:
        return self.agreement.agreement_id if self.agreement else None


@dataclass(frozen=True, slots=True)
class AgreementEndNotice:
    """One F06 transaction: an agreement ends at `end_of_occurrence` for `reason` (AN01..AN05).

    The schema makes the whole contract block optional; `accounting_point` is None exactly when the
    message carries no `MasterDataContract`.
    """

    end_of_occurrence: datetime
    reason: str
    accounting_point: str | None = None
    grid_area: str | None = None
    agreement_id: str | None = None
    contract_type: str | None = None
    invoicing_address: PostalAddress | None = None
    customers: tuple[Customer, ...] = ()
    description: str | None = None
    original_business_document_reference: str | None = None
    original_business_document_sender: str | None = None

    @property
    def transaction_id(self) -> None:
        return None


F04Message = DatahubMessage[SalesAgreementEvent]
F06Message = DatahubMessage[AgreementEndNotice]
