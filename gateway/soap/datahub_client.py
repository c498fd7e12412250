"""A synchronous Datahub MarketMessaging client: zeep over ``Messages.wsdl``.

* The endpoint comes from configuration (the WSDL's own soap:address is a placeholder).
* Transport: HTTPS with a client certificate (cert/key paths), connect/read timeouts.
* Retries (tenacity, bounded): connection errors, timeouts and HTTP 5xx answers that carry no SOAP Fault.
  A SOAP Fault is Datahub's decision about the request and is never retried: it raises ``DatahubFault``.
* The business document travels as the real XML element inside ``Payload`` (``xs:any``), never as an escaped
  string: zeep renders an lxml element given as the ``_value_1`` of the any-content as-is.

zeep is synchronous; async callers run it in a worker thread (``asyncio.to_thread``). One client instance
holds one ``requests.Session``; do not share an instance between threads that call it concurrently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import requests
import zeep
import zeep.exceptions
from lxml import etree
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)
from zeep.transports import Transport

from gateway.soap.envelope import B2B_NS, DEFAULT_MAX_BYTES, SERVICE_NS, WSDL_PATH, standalone_document
from gateway.xml.hardened import parse_xml

BINDING: Final = f"{{{SERVICE_NS}}}marketMessagingB2BInboundServiceV01HTTPEndpointBinding"
_log = logging.getLogger(__name__)
T = TypeVar("T")


class DatahubFault(Exception):
    """Datahub answered with a SOAP Fault (``CMSFault`` detail)."""

    def __init__(
        self,
        error_code: str,
        identification: str | None,
        details: str | None,
        *,
        soap_code: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(f"Datahub fault {error_code}: {reason or details or ''}".rstrip(": "))
        self.error_code = error_code
        self.identification = identification
        self.details = details
        self.soap_code = soap_code
        self.reason = reason


class DatahubTransportError(Exception):
    """Datahub could not be reached or kept failing (after the bounded retries)."""


@dataclass(frozen=True, slots=True)
class PeekedMessage:
    ref: str
    payload: bytes


def is_retryable(exc: BaseException) -> bool:
    """Transport trouble is retried; a SOAP Fault or a 4xx answer is not."""
    if isinstance(exc, zeep.exceptions.Fault):
        return False
    if isinstance(exc, zeep.exceptions.TransportError):
        return exc.status_code is None or exc.status_code >= 500
    return isinstance(exc, requests.ConnectionError | requests.Timeout)


class DatahubClient:
    def __init__(
        self,
        endpoint: str,
        *,
        wsdl_path: Path | None = None,
        cert: tuple[str, str] | None = None,
        timeout: float = 30,
        retries: int = 3,
        verify: bool | str = True,
        headers: Mapping[str, str] | None = None,
        max_payload_bytes: int = DEFAULT_MAX_BYTES,
        retry_wait: Callable[..., float] | None = None,
    ) -> None:
        """``retries`` is the total number of attempts per call, the first included (at least 1).
        ``headers`` are added to every HTTP request (e.g. the simulator's ``X-Party-GLN`` or a bearer token).
        ``retry_wait`` is a tenacity wait strategy (default: exponential 0.2 s … 5 s)."""
        session = _Session()
        session.cert = cert
        session.verify = verify
        if headers:
            session.headers.update(headers)
        self._session = session
        transport = Transport(  # type: ignore[no-untyped-call]
            session=session, timeout=timeout, operation_timeout=timeout
        )
        settings = zeep.Settings(strict=True, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True)
        client: Any = zeep.Client(  # type: ignore[no-untyped-call]
            str(wsdl_path or WSDL_PATH), transport=transport, settings=settings
        )
        self._service: Any = client.create_service(BINDING, endpoint)
        self._max_payload_bytes = max_payload_bytes
        self._retrying = Retrying(
            stop=stop_after_attempt(max(1, retries)),
            wait=retry_wait or wait_exponential(multiplier=0.2, max=5),
            retry=retry_if_exception(is_retryable),
            before_sleep=before_sleep_log(_log, logging.WARNING),
            reraise=True,
        )

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> DatahubClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def peek(self, domains: Sequence[str] = ()) -> PeekedMessage | None:
        """The oldest message of the queue (optionally of the given BB01..BB06 domains), or None if empty."""
        arguments: dict[str, Any] = {"MessageDomains": {"MessageDomain": list(domains)}} if domains else {}
        # zeep unwraps a response element with a single child: peek returns the MessageContainer (or None).
        container = self._call(lambda: self._service.peekMessage(**arguments))
        if container is None:
            return None
        ref = _get(container, "DocumentReferenceNumber")
        if not ref:
            raise DatahubTransportError("peekMessage returned a message without a DocumentReferenceNumber")
        return PeekedMessage(ref=str(ref), payload=self._payload_bytes(container))

    def dequeue(self, ref: str) -> None:
        self._call(lambda: self._service.dequeueMessage(DocumentReferenceNumber=ref))

    def send(self, payload: bytes) -> str:
        """Submit a business document asynchronously; returns Datahub's DocumentReferenceNumber."""
        container = self._message_container(payload)
        ref = self._call(lambda: self._service.sendMessage(MessageContainer=container))
        if not ref:
            raise DatahubTransportError("sendMessage returned no DocumentReferenceNumber")
        return str(ref)

    def process(self, payload: bytes) -> bytes:
        """Synchronous request/response (e.g. a query); returns the response document."""
        container = self._message_container(payload)
        response_container = self._call(lambda: self._service.processMessage(MessageContainer=container))
        if response_container is None:
            raise DatahubTransportError("processMessage returned no MessageContainer")
        return self._payload_bytes(response_container)

    def _message_container(self, payload: bytes) -> dict[str, Any]:
        document = parse_xml(payload, max_bytes=self._max_payload_bytes).getroot()
        return {"Payload": {"_value_1": document}}

    def _payload_bytes(self, container: Any) -> bytes:
        payload = _get(container, "Payload")
        document = _get(payload, "_value_1") if payload is not None else None
        if not isinstance(document, etree._Element):
            raise DatahubTransportError("the response Payload holds no XML document")
        return standalone_document(document)

    def _call(self, operation: Callable[[], T]) -> T:
        try:
            return self._retrying(operation)
        except zeep.exceptions.Fault as fault:
            raise _datahub_fault(fault) from fault
        except (zeep.exceptions.TransportError, requests.RequestException) as exc:
            raise DatahubTransportError(str(exc)) from exc


class _Session(requests.Session):
    """requests lets ``REQUESTS_CA_BUNDLE`` override a session's ``verify``; an explicitly configured CA file
    must win, so it is passed on every request (zeep passes none)."""

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("verify") is None:
            kwargs["verify"] = self.verify
        return super().request(method, url, *args, **kwargs)


def _get(value: Any, name: str) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def _datahub_fault(fault: zeep.exceptions.Fault) -> DatahubFault:
    detail = fault.detail
    cms = detail.find(f"{{{B2B_NS}}}CMSFault") if isinstance(detail, etree._Element) else None

    def field(name: str) -> str | None:
        element = cms.find(f"{{{B2B_NS}}}{name}") if cms is not None else None
        return element.text if element is not None else None

    return DatahubFault(
        field("ErrorCode") or str(fault.code or "UNKNOWN"),
        field("ErrorIdentification"),
        field("ErrorDetails"),
        soap_code=str(fault.code).rpartition(":")[2] if fault.code is not None else None,
        reason=str(fault.message) if fault.message is not None else None,
    )
