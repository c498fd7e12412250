"""Datahub message domain objects: pure frozen dataclasses, no XML library."""

from gateway.domain.acknowledgement import (
    AckMessage,
    Acknowledgement,
    EventReason,
    SeriesDetail,
    SeriesReason,
    original_message_id,
)
from gateway.domain.agreement import (
    AgreementContact,
    AgreementDetails,
    AgreementEndNotice,
    ElectronicInvoiceAddress,
    F04Message,
    F06Message,
    NoticePeriod,
    OtherInvoicingAddress,
    SalesAgreementEvent,
)
from gateway.domain.codes import AckReasonCode, DocumentType
from gateway.domain.customer import Communication, Customer, CustomerEvent, F01Message, PostalAddress
from gateway.domain.identifiers import (
    CustomerIdentifier,
    PersonalIdentityCode,
    gs1_check_digit,
    is_valid_gln,
    is_valid_gsrn,
)
from gateway.domain.masterdata import AccountingPointAddress, AccountingPointMasterData, E58Message
from gateway.domain.message import DatahubMessage, MessageHeader, ProcessContext
from gateway.domain.metering import E66Message, MeteringTransaction
from gateway.domain.requests import (
    AccountingPointInfoRequest,
    F03Message,
    F08Message,
    MeteringDataRequest,
    RequestedProduct,
)

__all__ = [
    "AccountingPointAddress",
    "AccountingPointInfoRequest",
    "AccountingPointMasterData",
    "AckMessage",
    "AckReasonCode",
    "Acknowledgement",
    "AgreementContact",
    "AgreementDetails",
    "AgreementEndNotice",
    "Communication",
    "Customer",
    "CustomerEvent",
    "CustomerIdentifier",
    "DatahubMessage",
    "DocumentType",
    "E58Message",
    "E66Message",
    "ElectronicInvoiceAddress",
    "EventReason",
    "F01Message",
    "F03Message",
    "F04Message",
    "F06Message",
    "F08Message",
    "MessageHeader",
    "MeteringDataRequest",
    "MeteringTransaction",
    "NoticePeriod",
    "OtherInvoicingAddress",
    "PersonalIdentityCode",
    "PostalAddress",
    "ProcessContext",
    "RequestedProduct",
    "SalesAgreementEvent",
    "SeriesDetail",
    "SeriesReason",
    "gs1_check_digit",
    "is_valid_gln",
    "is_valid_gsrn",
    "original_message_id",
]
