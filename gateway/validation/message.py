"""Event checks for a whole parsed message: header, message-level rules, then each transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from typing import Any, Final

from gateway.domain.acknowledgement import Acknowledgement
from gateway.domain.agreement import AgreementEndNotice, SalesAgreementEvent
from gateway.domain.customer import CustomerEvent
from gateway.domain.masterdata import AccountingPointMasterData
from gateway.domain.message import DatahubMessage
from gateway.domain.metering import MeteringTransaction
from gateway.domain.requests import AccountingPointInfoRequest, MeteringDataRequest
from gateway.validation.errors import EC, EventError
from gateway.validation.lookup import AccountingPointLookup
from gateway.validation.masterdata import (
    E_INVOICE_CHANNELS,
    check_accounting_point_master_data,
    check_agreement_end_notice,
    check_customer_event,
    check_sales_agreement_event,
)
from gateway.validation.metering import check_metering_transaction
from gateway.validation.parties import check_header
from gateway.validation.results import CheckResult, TransactionResult

MAX_SERIES_PER_MESSAGE: Final = 10_000  # Datahub's limit of time series per message


def check_transaction(
    txn: object,
    known_accounting_point: AccountingPointLookup | None = None,
    e_invoice_channels: frozenset[str] = E_INVOICE_CHANNELS,
) -> list[EventError]:
    """Event rules of one transaction of any mapped document type."""
    if isinstance(txn, MeteringTransaction):
        return check_metering_transaction(txn, known_accounting_point)
    if isinstance(txn, AccountingPointMasterData):
        return check_accounting_point_master_data(txn)
    if isinstance(txn, CustomerEvent):
        return check_customer_event(txn)
    if isinstance(txn, SalesAgreementEvent):
        return check_sales_agreement_event(txn, known_accounting_point, e_invoice_channels)
    if isinstance(txn, AgreementEndNotice):
        return check_agreement_end_notice(txn, known_accounting_point)
    if isinstance(txn, Acknowledgement | AccountingPointInfoRequest | MeteringDataRequest):
        return []
    raise TypeError(f"no event rules for {type(txn).__name__}")


def check_message(
    message: DatahubMessage[Any],
    known_accounting_point: AccountingPointLookup | None = None,
    *,
    our_glns: Collection[str] | None = None,
    e_invoice_channels: frozenset[str] = E_INVOICE_CHANNELS,
    extra_rules: Collection[Callable[[object], list[EventError]]] = (),
) -> CheckResult:
    """All event errors of a parsed message, per transaction, ready for a BA01/BA02/BA03 ACK.

    `known_accounting_point` answers from stored master data (see `lookup`); an unknown accounting
    point yields `EC.MPT.115`, which `is_ordering_error` marks as possibly temporary.
    """
    message_errors = check_header(message.header, our_glns)
    if len(message.transactions) > MAX_SERIES_PER_MESSAGE:
        message_errors.append(
            EventError(
                EC.TOO_MANY_SERIES,
                f"{len(message.transactions)} transactions exceed the limit of {MAX_SERIES_PER_MESSAGE}",
            )
        )
    ids = [getattr(t, "transaction_id", None) for t in message.transactions]
    repeated = {i for i, n in Counter(i for i in ids if i is not None).items() if n > 1}

    results = []
    for index, (txn, tid) in enumerate(zip(message.transactions, ids, strict=True)):
        errors = check_transaction(txn, known_accounting_point, e_invoice_channels)
        if tid in repeated:
            errors.append(EventError(EC.DUPLICATE_TRANSACTION_ID, f"transaction id {tid} repeats in the message", tid))
        for rule in extra_rules:
            errors.extend(rule(txn))
        results.append(TransactionResult(index=index, transaction_id=tid, errors=tuple(errors)))
    return CheckResult(
        message_id=message.header.message_id,
        message_errors=tuple(message_errors),
        transactions=tuple(results),
    )
