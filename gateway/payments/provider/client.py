"""A small typed client for the provider's REST API (requests; one ``Session`` per client, so connections
are reused).

Errors are split the way the outbox needs them (DOMAIN §5.1, ARCHITECTURE §3):

* ``ProviderRejected`` — a 4xx answer: permanent, the request will not succeed as it is. The provider's own
  message (problem+json ``detail`` or ``errorText``, else the body's first 500 characters) is kept, for the
  dead letter. 408 and 429 are the exceptions: they are transient.
* ``ProviderUnavailable`` — 5xx, 408, 429, a timeout, a refused or dropped connection, or a 2xx answer that
  cannot be read: transient, retry later on the durable schedule. After a lost answer the job may exist
  already; that is safe because the job's identity is its ``billcode`` (a repeat answers ``created: false``)
  and a payment's is its ``identifier``.

No call here runs inside a database transaction: the caller (the outbox's external-call handler) calls
between two short transactions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any, Final

import requests

from gateway.payments.provider.api import (
    STATUS_PAGE_MAX,
    ApiFormatError,
    JobReceipt,
    JobRequest,
    PaymentReceipt,
    PaymentReport,
    StatusUpdate,
    jobs_document,
)

DEFAULT_TIMEOUT: Final = (3.05, 30.0)  # connect, read (seconds)
_TRANSIENT_4XX: Final = frozenset({408, 425, 429})
MAX_POLL_PAGES: Final = 10_000


class ProviderError(Exception):
    """Any failure talking to the provider."""

    transient: bool = True

    def __init__(self, message: str, *, status: int | None = None, body: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body


class ProviderRejected(ProviderError):
    """4xx: the provider refused the request; retrying the same request will not help."""

    transient = False


class ProviderUnavailable(ProviderError):
    """5xx, timeouts and connection failures: try again later."""

    transient = True


class ProviderClient:
    def __init__(self, base_url: str, token: str, *, timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
                 session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._session = session or requests.Session()
        self._session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ProviderClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def create_jobs(self, jobs: Sequence[JobRequest]) -> list[JobReceipt]:
        """``POST /jobs``; one receipt per job, in order (``created`` False for a job that already existed)."""
        data = self._call("POST", "/jobs", jobs_document(jobs))
        try:
            receipts = [JobReceipt.from_json(item) for item in data["jobs"]]
        except (KeyError, TypeError, ApiFormatError) as exc:
            raise ProviderUnavailable(f"unreadable answer to POST /jobs: {exc}") from None
        if len(receipts) != len(jobs):
            raise ProviderUnavailable(f"POST /jobs answered {len(receipts)} receipts for {len(jobs)} jobs")
        return receipts

    def create_job(self, job: JobRequest) -> JobReceipt:
        return self.create_jobs([job])[0]

    def report_payment(self, report: PaymentReport) -> PaymentReceipt:
        """``POST /jobs/payment``: a payment made to us (or a credit note) for the job with that billcode."""
        data = self._call("POST", "/jobs/payment", report.to_json())
        try:
            return PaymentReceipt.from_json(data)
        except ApiFormatError as exc:
            raise ProviderUnavailable(f"unreadable answer to POST /jobs/payment: {exc}") from None

    def fetch_status_updates(self, limit: int = STATUS_PAGE_MAX) -> list[StatusUpdate]:
        """One ``GET /jobs/statusupdates``: up to ``limit`` updates, [] when the provider answers 204."""
        data = self._call("GET", "/jobs/statusupdates", params={"limit": str(limit)})
        if data is None:
            return []
        try:
            return [StatusUpdate.from_json(item) for item in data]
        except (TypeError, ApiFormatError) as exc:
            raise ProviderUnavailable(f"unreadable status updates: {exc}") from None

    def poll_status_updates(self, *, max_pages: int = MAX_POLL_PAGES) -> Iterator[StatusUpdate]:
        """Every pending update: ``GET /jobs/statusupdates`` repeated until 204 (at most ``max_pages`` calls).
        Each page is handed out before the next is asked for, so a consumer stores one page at a time."""
        for _ in range(max_pages):
            page = self.fetch_status_updates()
            if not page:
                return
            yield from page

    def _call(self, method: str, path: str, payload: Any = None, params: dict[str, str] | None = None) -> Any:
        url = self.base_url + path
        try:
            response = self._session.request(method, url, json=payload, params=params, timeout=self._timeout)
        except requests.Timeout as exc:
            raise ProviderUnavailable(f"{method} {path}: no answer in time ({exc.__class__.__name__})") from None
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"{method} {path}: {exc.__class__.__name__}: {exc}") from None
        status = response.status_code
        if status == 204:
            return None
        text = response.text
        if 200 <= status < 300:
            try:
                return json.loads(text, parse_float=Decimal)
            except json.JSONDecodeError:
                raise ProviderUnavailable(f"{method} {path}: answer {status} is not JSON", status=status,
                                          body=text[:500]) from None
        message = f"{method} {path}: HTTP {status}: {_provider_message(text)}"
        if 400 <= status < 500 and status not in _TRANSIENT_4XX:
            raise ProviderRejected(message, status=status, body=text[:2000])
        raise ProviderUnavailable(message, status=status, body=text[:2000])


def _provider_message(text: str) -> str:
    """The provider's own words: problem+json ``detail`` (and ``title``), ``errorText``, else the body."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text.strip()[:500] or "(empty body)"
    if isinstance(data, dict):
        detail = data.get("detail") or data.get("errorText") or data.get("message")
        title = data.get("title")
        parts = [str(p) for p in (title, detail) if p]
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            parts.append("; ".join(str(e.get("detail", e)) if isinstance(e, dict) else str(e) for e in errors[:5]))
        if parts:
            return " — ".join(parts)[:1000]
    return text.strip()[:500]
