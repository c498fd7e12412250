"""The payment provider's side of the outbox: three consumers, each an external call (``outbox.external``).

* ``invoice.released`` → ``POST /jobs``: the invoice's job, ``billcode`` = the payment reference (so a retry,
  even after an answer lost once the provider had created the job, answers the same job with
  ``created: false`` instead of making a second one), job type 300 (print only, the default) or 0 (full
  service) from the entity's provider account in the catalogue, the customer as debtor, one pay row per VAT
  rate (what the invoice's VAT breakdown sums), and the channel from the invoice and the customer (paper,
  e-invoice with the F04 address and operator, direct payment, e-mail). Stored as a ``provider_job`` row.
* ``credit_note.released`` → ``POST /jobs/payment`` with ``type`` creditnote against the original invoice's
  job (it waits, retrying, until that job exists).
* ``payments.provider_request`` → a queued ``provider_request`` row: a payment we received ourselves
  (``POST /jobs/payment``, its ``identifier`` makes a repeat count once) or a reminder / collection hand-over
  of a print-only invoice (``POST /jobs`` with job type 1 / 2 and the invoice's billcode).

Errors: a 4xx answer (``ProviderRejected``) raises ``outbox.PermanentFailure``: the delivery is dead-lettered
at once with the provider's message; ``gateway outbox replay`` sends it again once the cause is fixed. 5xx,
timeouts and dropped connections (``ProviderUnavailable``) raise as they are: the outbox retries on its
durable schedule. The calls run with no transaction open; nothing here runs unless ``[payment_provider]``
names a ``base_url`` (without one, the deliveries wait, as Datahub's do without an endpoint).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.events import (
    CREDIT_NOTE_RELEASED,
    INVOICE_RELEASED,
    PROVIDER_CREDIT_NOTES,
    PROVIDER_JOBS,
    PROVIDER_REQUEST,
    PROVIDER_REQUESTS,
)
from gateway.payments import ledger
from gateway.payments.core.channels import ChannelError, InvoicingChannel, PaperChannel, channel_from_fields
from gateway.payments.provider.api import (
    CustomerType,
    Debtor,
    JobReceipt,
    JobRequest,
    JobStatus,
    JobType,
    PaymentReceipt,
    PaymentReport,
    PayRow,
)
from gateway.payments.provider.client import ProviderClient, ProviderRejected
from gateway.payments.settings import ProviderSettings
from gateway.payments.status_updates import adopt_orphan_events
from gateway.store.billing_tables import BillingCustomerRow, InvoiceLineRow, InvoiceRow
from gateway.store.payments_tables import ProviderJobRow, ProviderRequestRow
from outbox import ExternalCall, HandlerRegistry, OutboxMessage, PermanentFailure
from outbox.types import utcnow

log = logging.getLogger("gateway.payments.provider")

ClientFactory = Callable[[str], ProviderClient]  # provider account → a client authenticated as it
FULL_SERVICE = "full_service"
# A new job's status comes from the receipt, not from an update: any update of the provider is newer.
NO_UPDATE_YET = datetime(2000, 1, 1, tzinfo=UTC)


class WaitingForJob(RuntimeError):
    """The invoice's own job is not at the provider yet: try again later (a transient failure)."""


@dataclass(frozen=True)
class JobCall:
    account: str
    invoice_id: int
    entity: str
    job: JobRequest


@dataclass(frozen=True)
class JobSent:
    """A job as sent and the provider's receipt: both are kept (``provider_request`` kind ``job``)."""

    job: JobRequest
    receipt: JobReceipt


@dataclass(frozen=True)
class PaymentCall:
    account: str
    report: PaymentReport


@dataclass(frozen=True)
class RequestCall:
    account: str
    request_id: int
    job: JobRequest | None = None
    report: PaymentReport | None = None


def client_factory(config: ProviderSettings) -> ClientFactory:
    assert config.base_url is not None
    base_url = config.base_url

    def make(account: str) -> ProviderClient:
        return ProviderClient(base_url, config.token(account), timeout=(min(5.0, config.timeout), config.timeout))

    return make


def _rejected(error: ProviderRejected) -> PermanentFailure:
    return PermanentFailure(f"the provider refused it: {error.message}")


# -- building jobs from the store ------------------------------------------------------------------------------
def build_job(session: Session, invoice: InvoiceRow, jobtype: JobType, billcode: str) -> JobRequest:
    customer = session.get(BillingCustomerRow, invoice.customer_id)
    if customer is None:
        raise PermanentFailure(f"invoice {invoice.number}: customer {invoice.customer_id} does not exist")
    assert invoice.id is not None and invoice.number is not None
    debtor = Debtor(CustomerType.PERSON if invoice.customer_type == "consumer" else CustomerType.COMPANY,
                    customer.name, customer.street or "", customer.postcode or "", customer.city or "",
                    customer.country or "FI", custnum=str(customer.id))
    by_rate: dict[Decimal, Decimal] = {}
    for amount, rate in session.execute(select(col(InvoiceLineRow.amount), col(InvoiceLineRow.vat_rate)).where(
            col(InvoiceLineRow.invoice_id) == invoice.id)):
        by_rate[Decimal(rate)] = by_rate.get(Decimal(rate), Decimal("0.00")) + Decimal(amount)
    if not by_rate:  # an invoice stored without lines (never by issuing): its totals as one row
        base = Decimal(invoice.total_excl_vat)
        by_rate[(Decimal(invoice.total_vat) * 100 / base).quantize(Decimal("0.1")) if base else Decimal(0)] = base
    rows = [PayRow(f"Lasku {invoice.number}, ALV {_percent(rate)} %", Decimal(1), base, rate)
            for rate, base in sorted(by_rate.items())]
    return JobRequest(jobtype, billcode, invoice.number, invoice.invoice_date, invoice.due_date, debtor, rows,
                      channel=_channel(invoice, customer))


def _percent(rate: Decimal) -> str:
    text = f"{rate:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _channel(invoice: InvoiceRow, customer: BillingCustomerRow) -> InvoicingChannel:
    kind = invoice.channel or customer.channel or "paper"
    try:
        return channel_from_fields(kind, address=customer.email if kind == "email" else customer.e_invoice_address,
                                   operator=customer.e_invoice_operator)
    except ChannelError as error:
        log.warning("invoice %s: channel %s cannot be used (%s); sent on paper", invoice.number, kind, error)
        return PaperChannel()


def _job_of(session: Session, invoice_id: int) -> ProviderJobRow | None:
    return session.execute(select(ProviderJobRow).where(col(ProviderJobRow.invoice_id) == invoice_id)
                           ).scalars().first()


# -- invoice.released -------------------------------------------------------------------------------------------
def make_job_call(clients: ClientFactory, config: ProviderSettings) -> ExternalCall[JobCall, JobSent]:
    def prepare(session: Session, message: OutboxMessage) -> JobCall | None:
        payload = INVOICE_RELEASED.payload(message)
        account = payload["provider_account"]
        if account is None:
            return None  # the entity has no provider: nothing to send
        if _job_of(session, payload["invoice_id"]) is not None:
            return None  # recorded by an earlier delivery
        invoice = session.get(InvoiceRow, payload["invoice_id"])
        if invoice is None:
            raise PermanentFailure(f"invoice {payload['invoice_id']} does not exist")
        jobtype = JobType.INVOICE if payload["provider_mode"] == FULL_SERVICE else JobType.PRINT_ONLY
        return JobCall(account, payload["invoice_id"], payload["entity"],
                       build_job(session, invoice, jobtype, payload["payment_reference"]))

    def call(request: JobCall, message: OutboxMessage) -> JobSent:
        with clients(request.account) as client:
            try:
                return JobSent(request.job, client.create_job(request.job))
            except ProviderRejected as error:
                raise _rejected(error) from error

    def record(session: Session, message: OutboxMessage, sent: JobSent) -> None:
        payload = INVOICE_RELEASED.payload(message)
        if _job_of(session, payload["invoice_id"]) is not None:
            return
        now = utcnow()
        receipt = sent.receipt
        channel = _channel_kind(session, payload)
        account = str(payload["provider_account"])
        job = ProviderJobRow(
            invoice_id=payload["invoice_id"], entity_id=payload["entity"], account=account,
            billcode=receipt.billcode, jobtype=int(receipt.jobtype), jobid=receipt.jobid, channel=channel,
            provider_status=receipt.status.value, status_at=NO_UPDATE_YET, created_at=now, updated_at=now)
        session.add(job)
        # The call itself, for the message log: the job as sent and the receipt.
        session.add(ProviderRequestRow(
            kind="job", identity=f"job:{receipt.billcode}"[:120], account=account, invoice_id=payload["invoice_id"],
            body=sent.job.to_json(), status="sent", answer=receipt.to_json(), created_at=now, sent_at=now))
        session.flush()
        adopt_orphan_events(session, job)  # a webhook that announced the job before this answer was recorded
        log.info("invoice %s: provider job %s (%s, %s)", payload["number"], receipt.jobid,
                 "created" if receipt.created else "already there", receipt.status.value)

    return ExternalCall(prepare=prepare, call=call, record=record, max_duration=config.call_budget)


def _channel_kind(session: Session, payload: Any) -> str:
    invoice = session.get(InvoiceRow, payload["invoice_id"])
    customer = session.get(BillingCustomerRow, payload["customer_id"])
    if invoice is None or customer is None:
        return "paper"
    return _channel(invoice, customer).kind.value


# -- credit_note.released ---------------------------------------------------------------------------------------
def make_credit_note_call(clients: ClientFactory, config: ProviderSettings
                          ) -> ExternalCall[PaymentCall, PaymentReceipt]:
    def prepare(session: Session, message: OutboxMessage) -> PaymentCall | None:
        payload = CREDIT_NOTE_RELEASED.payload(message)
        original = payload["original_invoice_id"]
        if original is None:
            return None
        ledger.refresh(session, [original])  # a credit note changes what is open (credited when it is all)
        if payload["provider_account"] is None:
            return None
        job = _job_of(session, original)
        if job is None:
            raise WaitingForJob(f"credit note {payload['number']}: invoice {original}'s provider job does not "
                                "exist yet")
        amount = -Decimal(payload["total"])
        if amount <= 0:
            return None
        return PaymentCall(job.account, PaymentReport(
            job.billcode, amount, date.fromisoformat(payload["invoice_date"]),
            identifier=f"creditnote:{payload['entity']}:{payload['number']}", type="creditnote",
            creditnotebillnum=payload["number"], description=f"Hyvityslasku {payload['number']}"))

    def call(request: PaymentCall, message: OutboxMessage) -> PaymentReceipt:
        with clients(request.account) as client:
            try:
                return client.report_payment(request.report)
            except ProviderRejected as error:
                raise _rejected(error) from error

    def record(session: Session, message: OutboxMessage, receipt: PaymentReceipt) -> None:
        payload = CREDIT_NOTE_RELEASED.payload(message)
        identity = f"creditnote:{payload['entity']}:{payload['number']}"
        exists = session.execute(select(col(ProviderRequestRow.id)).where(
            col(ProviderRequestRow.identity) == identity)).first()
        if exists is None and payload["original_invoice_id"] is not None:
            session.add(ProviderRequestRow(
                kind="credit_note", identity=identity, account=str(payload["provider_account"]),
                invoice_id=payload["original_invoice_id"], body={"credit_note": payload["number"],
                                                                 "amount": f"{-Decimal(payload['total']):.2f}"},
                status="sent", answer=_receipt_json(receipt), created_at=utcnow(), sent_at=utcnow()))

    return ExternalCall(prepare=prepare, call=call, record=record, max_duration=config.call_budget)


def _receipt_json(receipt: PaymentReceipt) -> dict[str, Any]:
    return {"jobid": receipt.jobid, "billcode": receipt.billcode, "paidamount": f"{receipt.paidamount:.2f}",
            "openamount": f"{receipt.openamount:.2f}", "duplicate": receipt.duplicate}


# -- payments.provider_request ----------------------------------------------------------------------------------
def make_request_call(clients: ClientFactory, config: ProviderSettings
                      ) -> ExternalCall[RequestCall, JobReceipt | PaymentReceipt]:
    def prepare(session: Session, message: OutboxMessage) -> RequestCall | None:
        request_id = PROVIDER_REQUEST.payload(message)["request_id"]
        row = session.get(ProviderRequestRow, request_id)
        if row is None or row.status != "queued":
            return None
        job = _job_of(session, row.invoice_id)
        if job is None:
            raise WaitingForJob(f"provider request {request_id}: invoice {row.invoice_id}'s job does not exist yet")
        if row.kind == "payment":
            body = row.body
            return RequestCall(row.account, request_id, report=PaymentReport(
                job.billcode, Decimal(body["amount"]), date.fromisoformat(body["paydate"]), body["identifier"],
                type=body.get("type", "directpayment")))
        if job.jobtype == JobType.INVOICE or job.provider_status == JobStatus.PAID.value:
            row.status = "skipped"  # the provider dunns full-service invoices itself; a paid one needs nothing
            return None
        invoice = session.get(InvoiceRow, row.invoice_id)
        assert invoice is not None
        jobtype = JobType.REMINDER if row.kind == "reminder" else JobType.COLLECTION
        return RequestCall(row.account, request_id, job=build_job(session, invoice, jobtype, job.billcode))

    def call(request: RequestCall, message: OutboxMessage) -> JobReceipt | PaymentReceipt:
        with clients(request.account) as client:
            try:
                if request.report is not None:
                    return client.report_payment(request.report)
                assert request.job is not None
                return client.create_job(request.job)
            except ProviderRejected as error:
                raise _rejected(error) from error

    def record(session: Session, message: OutboxMessage, answer: JobReceipt | PaymentReceipt) -> None:
        row = session.get(ProviderRequestRow, PROVIDER_REQUEST.payload(message)["request_id"])
        if row is None:
            return
        row.status, row.sent_at = "sent", utcnow()
        row.answer = answer.to_json() if isinstance(answer, JobReceipt) else _receipt_json(answer)

    return ExternalCall(prepare=prepare, call=call, record=record, max_duration=config.call_budget)


def register_provider_calls(registry: HandlerRegistry, config: ProviderSettings,
                            clients: ClientFactory | None = None) -> bool:
    """Serve the three provider consumers; without a configured base URL (and no ``clients``) nothing is
    registered and their deliveries wait."""
    if clients is None and not config.configured:
        log.info("no [payment_provider] base_url configured: invoices, credit notes and payments are not sent to "
                 "the provider by this process (their deliveries wait)")
        return False
    factory = clients or client_factory(config)
    registry.register_external(INVOICE_RELEASED.name, make_job_call(factory, config), consumer=PROVIDER_JOBS.name)
    registry.register_external(CREDIT_NOTE_RELEASED.name, make_credit_note_call(factory, config),
                               consumer=PROVIDER_CREDIT_NOTES.name)
    registry.register_external(PROVIDER_REQUEST.name, make_request_call(factory, config),
                               consumer=PROVIDER_REQUESTS.name)
    return True
