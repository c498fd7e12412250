"""Event rules for E58 accounting point master data, F01 customers, F04 agreements and F06 end notices."""

from __future__ import annotations

from gateway.domain.agreement import AgreementEndNotice, SalesAgreementEvent
from gateway.domain.customer import CustomerEvent
from gateway.domain.identifiers import is_valid_gsrn
from gateway.domain.masterdata import AccountingPointMasterData
from gateway.validation.errors import EC, EventError
from gateway.validation.lookup import AccountingPointLookup, accounting_point_errors
from gateway.validation.parties import check_customer

# Invoicing channels that deliver an e-invoice and so need ElectronicInvoiceAddressDetails. The
# meanings of AI01..AI08 are not in the schema and unverified: the caller passes its configured set;
# with the empty default the rule is off.
E_INVOICE_CHANNELS: frozenset[str] = frozenset()


def _gsrn_errors(gsrn: str, tid: str | None) -> list[EventError]:
    if is_valid_gsrn(gsrn):
        return []
    return [EventError(EC.INVALID_GSRN, f"accounting point {gsrn!r} is not a valid GSRN", tid)]


def check_accounting_point_master_data(txn: AccountingPointMasterData) -> list[EventError]:
    errors = _gsrn_errors(txn.accounting_point, None)
    if not txn.grid_area:
        errors.append(EventError(EC.GRID_AREA_MISSING, "accounting point has no grid area", None))
    return errors


def check_customer_event(txn: CustomerEvent) -> list[EventError]:
    return check_customer(txn.customer)


def check_sales_agreement_event(
    txn: SalesAgreementEvent,
    known_accounting_point: AccountingPointLookup | None = None,
    e_invoice_channels: frozenset[str] = E_INVOICE_CHANNELS,
) -> list[EventError]:
    errors = _gsrn_errors(txn.accounting_point, None)
    if (
        txn.start_of_occurrence is not None
        and txn.end_of_occurrence is not None
        and txn.end_of_occurrence <= txn.start_of_occurrence
    ):
        errors.append(EventError(EC.AGREEMENT_END_BEFORE_START, "agreement ends before it starts", None))
    agreement = txn.agreement
    if agreement is not None:
        if (
            agreement.fixed_contract_start is not None
            and agreement.fixed_contract_end is not None
            and agreement.fixed_contract_end <= agreement.fixed_contract_start
        ):
            errors.append(EventError(EC.AGREEMENT_END_BEFORE_START, "fixed term ends before it starts", None))
        for customer in agreement.customers:
            errors.extend(check_customer(customer))
        if agreement.invoicing_channel in e_invoice_channels and agreement.electronic_invoice is None:
            errors.append(
                EventError(
                    EC.E_INVOICE_CHANNEL_WITHOUT_ADDRESS,
                    f"invoicing channel {agreement.invoicing_channel} needs an e-invoice address",
                    None,
                )
            )
    if not errors:
        errors.extend(accounting_point_errors(txn.accounting_point, known_accounting_point, None))
    return errors


def check_agreement_end_notice(
    txn: AgreementEndNotice, known_accounting_point: AccountingPointLookup | None = None
) -> list[EventError]:
    errors: list[EventError] = []
    for customer in txn.customers:
        errors.extend(check_customer(customer))
    if txn.accounting_point is not None:
        gsrn_errors = _gsrn_errors(txn.accounting_point, None)
        errors.extend(gsrn_errors)
        if not gsrn_errors:
            errors.extend(accounting_point_errors(txn.accounting_point, known_accounting_point, None))
    return errors
