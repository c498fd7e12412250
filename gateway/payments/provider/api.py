"""The Ropo-style invoice-lifecycle API (DOMAIN §5.1; docs/payment-provider.md): job types, statuses, the
JSON shapes of jobs, payments and status updates, and the webhook signature.

JSON follows the provider's habit of strings for numbers and dates: amounts ``"35.00"``, percentages
``"25.5"``, dates ``"2026-02-01"``. A job's identity is its ``billcode`` — the invoice's bank reference —
together with its job type, so repeating a ``POST /jobs`` never creates a second job.

Field names the provider publishes are used as published (``jobtype``, ``customertype``, ``person``,
``company``, ``billdate``, ``paydate``, ``billnum``, ``billcode``, ``payrow`` with ``desc``/``count``/
``amount``/``taxpr``; payments with ``billcode``/``amount``/``paydate``/``type``/``identifier``). The status
update fields, the numeric status codes, the channel fields and the HMAC webhook signature are this
project's sandbox choices (the real service authenticates webhooks with OAuth2 or Basic auth): unverified.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import IntEnum, StrEnum
from typing import Any, Final

from gateway.payments.core.channels import InvoicingChannel, provider_channel_fields

SIGNATURE_HEADER: Final = "X-Provider-Signature"
SIGNATURE_PREFIX: Final = "sha256="
STATUS_PAGE_MAX: Final = 1000
WEBHOOK_BATCH_MAX: Final = 500
JOBS_PER_REQUEST_MAX: Final = 500


class JobType(IntEnum):
    INVOICE = 0  # full service: the provider delivers, monitors, reminds and collects; payments go to it
    REMINDER = 1
    COLLECTION = 2
    PRINT_ONLY = 300  # delivery only: our account, reference and barcode on the invoice


class CustomerType(IntEnum):
    COMPANY = 1
    PERSON = 2


class JobStatus(StrEnum):
    INVOICING = "Invoicing"
    DUE = "Due"
    REMINDER = "Reminder"
    COLLECTION = "Collection"
    PAID = "Paid"


STATUS_CODES: Final[dict[JobStatus, int]] = {status: code for code, status in enumerate(JobStatus)}


class ApiFormatError(ValueError):
    """A JSON document that does not have the API's shape."""


@dataclass(frozen=True, slots=True)
class PayRow:
    desc: str
    count: Decimal
    amount: Decimal  # unit price excluding VAT
    taxpr: Decimal  # VAT percent

    def to_json(self) -> dict[str, str]:
        return {"desc": self.desc, "count": _number(self.count), "amount": _money(self.amount),
                "taxpr": _number(self.taxpr)}


@dataclass(frozen=True, slots=True)
class Debtor:
    customertype: CustomerType
    name: str
    address: str
    postcode: str
    city: str
    country: str = "FI"
    custnum: str | None = None

    def to_json(self) -> dict[str, str]:
        name_field = "person" if self.customertype is CustomerType.PERSON else "company"
        fields = {"customertype": str(int(self.customertype)), name_field: self.name, "address": self.address,
                  "postcode": self.postcode, "city": self.city, "country": self.country}
        if self.custnum:
            fields["custnum"] = self.custnum
        return fields


@dataclass(frozen=True, slots=True)
class JobRequest:
    """One job for ``POST /jobs`` (one item of ``datastream.dataset``)."""

    jobtype: JobType
    billcode: str
    billnum: str
    billdate: date
    paydate: date
    debtor: Debtor
    payrows: Sequence[PayRow]
    channel: InvoicingChannel | None = None

    def to_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {"jobtype": str(int(self.jobtype)), **self.debtor.to_json(),
                                "billdate": self.billdate.isoformat(), "paydate": self.paydate.isoformat(),
                                "billnum": self.billnum, "billcode": self.billcode,
                                "payrow": [row.to_json() for row in self.payrows]}
        if self.channel is not None:
            item.update(provider_channel_fields(self.channel))
        return item


def jobs_document(jobs: Sequence[JobRequest]) -> dict[str, Any]:
    return {"datastream": {"dataset": [job.to_json() for job in jobs]}}


@dataclass(frozen=True, slots=True)
class JobReceipt:
    """The provider's answer for one job: ``created`` is False when the job already existed."""

    jobid: int
    jobtype: JobType
    billcode: str
    status: JobStatus
    created: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobReceipt:
        try:
            return cls(int(data["jobid"]), JobType(int(data["jobtype"])), str(data["billcode"]),
                       JobStatus(data["status"]), bool(data["created"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiFormatError(f"job receipt {data!r}: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        return {"jobid": self.jobid, "jobtype": str(int(self.jobtype)), "billcode": self.billcode,
                "status": self.status.value, "created": self.created}


@dataclass(frozen=True, slots=True)
class PaymentReport:
    """``POST /jobs/payment``: a payment the debtor made outside the provider (to our account), or a credit
    note (``type="creditnote"``). ``identifier`` makes a retried report count once."""

    billcode: str
    amount: Decimal
    paydate: date
    identifier: str
    type: str = "directpayment"
    creditnotebillnum: str | None = None
    description: str | None = None

    def to_json(self) -> dict[str, str]:
        data = {"billcode": self.billcode, "amount": _money(self.amount), "paydate": self.paydate.isoformat(),
                "identifier": self.identifier, "type": self.type}
        if self.creditnotebillnum:
            data["creditnotebillnum"] = self.creditnotebillnum
        if self.description:
            data["description"] = self.description
        return data


@dataclass(frozen=True, slots=True)
class PaymentReceipt:
    jobid: int
    billcode: str
    paidamount: Decimal
    openamount: Decimal
    duplicate: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PaymentReceipt:
        try:
            return cls(int(data["jobid"]), str(data["billcode"]), parse_decimal(data["paidamount"], "paidamount"),
                       parse_decimal(data["openamount"], "openamount"), bool(data.get("duplicate", False)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiFormatError(f"payment receipt {data!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One status change (or payment) of a job, as polled and as pushed by webhook; ``id`` is unique and is
    the same on both channels, so a consumer dedupes on it."""

    id: str
    jobid: int
    jobtype: JobType
    billcode: str
    billnum: str
    status: JobStatus
    time: datetime
    openamount: Decimal
    paidamount: Decimal
    fees: Decimal = Decimal("0.00")
    event: str = "status"  # "status" or "payment"
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def statuscode(self) -> int:
        return STATUS_CODES[self.status]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "event": self.event, "jobid": self.jobid, "jobtype": str(int(self.jobtype)),
                "billcode": self.billcode, "billnum": self.billnum, "status": self.statuscode,
                "statustext": self.status.value, "time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "openamount": _money(self.openamount), "paidamount": _money(self.paidamount),
                "fees": _money(self.fees)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StatusUpdate:
        try:
            moment = datetime.fromisoformat(str(data["time"]).replace("Z", "+00:00"))
            if moment.tzinfo is None:
                raise ValueError("time must carry a UTC offset")
            return cls(id=str(data["id"]), jobid=int(data["jobid"]), jobtype=JobType(int(data["jobtype"])),
                       billcode=str(data["billcode"]), billnum=str(data["billnum"]),
                       status=JobStatus(data["statustext"]), time=moment,
                       openamount=parse_decimal(data["openamount"], "openamount"),
                       paidamount=parse_decimal(data["paidamount"], "paidamount"),
                       fees=parse_decimal(data.get("fees", "0"), "fees"), event=str(data.get("event", "status")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiFormatError(f"status update {str(data)[:200]}: {exc}") from None


@dataclass(frozen=True, slots=True)
class WebhookBatch:
    batch_id: str
    account: str
    created_at: datetime
    events: tuple[StatusUpdate, ...]


def sign(body: bytes, secret: str) -> str:
    """The signature header value: HMAC-SHA256 of the exact body bytes with the shared secret."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """Constant-time check of a webhook signature against the exact body bytes received."""
    if not header or not secret:
        return False
    return hmac.compare_digest(header.strip().encode(), sign(body, secret).encode())


def webhook_body(batch_id: str, account: str, created_at: datetime, events: Sequence[StatusUpdate]) -> bytes:
    return json.dumps({"batch_id": batch_id, "account": account,
                       "created_at": created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                       "events": [e.to_json() for e in events]}, separators=(",", ":")).encode()


def parse_webhook_batch(body: bytes, *, max_events: int = WEBHOOK_BATCH_MAX) -> WebhookBatch:
    """A webhook batch from its (already authenticated) body; ``ApiFormatError`` when it is not one."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiFormatError(f"webhook body is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise ApiFormatError("webhook body must be an object with an events list")
    if len(data["events"]) > max_events:
        raise ApiFormatError(f"webhook batch has {len(data['events'])} events; at most {max_events} are allowed")
    try:
        created = datetime.fromisoformat(str(data.get("created_at", "")).replace("Z", "+00:00"))
    except ValueError:
        raise ApiFormatError("webhook created_at is not an ISO 8601 time") from None
    return WebhookBatch(str(data.get("batch_id", "")), str(data.get("account", "")), created,
                        tuple(StatusUpdate.from_json(e) for e in data["events"]))


def parse_decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or value is None or isinstance(value, float):
        raise ValueError(f"{what} must be a decimal string")
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{what} {value!r} is not a number")
    return number


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


def _number(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
