"""The provider API vocabulary: JSON shapes round-trip, webhook signatures and batch limits."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from gateway.payments.core.channels import EmailChannel
from gateway.payments.provider.api import (
    WEBHOOK_BATCH_MAX,
    ApiFormatError,
    CustomerType,
    Debtor,
    JobRequest,
    JobStatus,
    JobType,
    PayRow,
    StatusUpdate,
    parse_webhook_batch,
    sign,
    verify_signature,
    webhook_body,
)

UPDATE = StatusUpdate("retail-000000001", 1001, JobType.INVOICE, "10003", "R-1", JobStatus.DUE,
                      datetime(2026, 2, 1, 9, 0, tzinfo=UTC), Decimal("100.40"), Decimal("0.00"))


def test_a_job_is_the_providers_dataset_item() -> None:
    item = JobRequest(JobType.PRINT_ONLY, "10003", "R-1", date(2026, 2, 1), date(2026, 2, 15),
                      Debtor(CustomerType.COMPANY, "Oy Ab", "Katu 1", "00100", "Helsinki", custnum="C1"),
                      [PayRow("Perusmaksu", Decimal("1"), Decimal("4.90"), Decimal("25.5"))],
                      EmailChannel("laskut@oyab.fi")).to_json()
    assert item == {"jobtype": "300", "customertype": "1", "company": "Oy Ab", "address": "Katu 1",
                    "postcode": "00100", "city": "Helsinki", "country": "FI", "custnum": "C1",
                    "billdate": "2026-02-01", "paydate": "2026-02-15", "billnum": "R-1", "billcode": "10003",
                    "payrow": [{"desc": "Perusmaksu", "count": "1", "amount": "4.90", "taxpr": "25.5"}],
                    "deliverymethod": "email", "email": "laskut@oyab.fi"}


def test_status_updates_round_trip() -> None:
    assert StatusUpdate.from_json(json.loads(json.dumps(UPDATE.to_json()))) == UPDATE
    with pytest.raises(ApiFormatError):
        StatusUpdate.from_json({**UPDATE.to_json(), "time": "2026-02-01T09:00:00"})  # no offset
    with pytest.raises(ApiFormatError):
        StatusUpdate.from_json({**UPDATE.to_json(), "openamount": 1.5})  # float money


def test_the_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = webhook_body("b1", "retail", datetime(2026, 2, 1, tzinfo=UTC), [UPDATE])
    header = sign(body, "secret")
    assert header.startswith("sha256=") and verify_signature(body, header, "secret")
    assert not verify_signature(body + b" ", header, "secret")
    assert not verify_signature(body, header, "other")
    assert not verify_signature(body, None, "secret") and not verify_signature(body, header, "")
    assert parse_webhook_batch(body).events == (UPDATE,)


def test_webhook_batches_are_bounded_and_well_formed() -> None:
    body = webhook_body("b", "retail", datetime(2026, 2, 1, tzinfo=UTC), [UPDATE] * (WEBHOOK_BATCH_MAX + 1))
    with pytest.raises(ApiFormatError, match="at most 500"):
        parse_webhook_batch(body)
    for bad in (b"not json", b"[]", b'{"events": 3}'):
        with pytest.raises(ApiFormatError):
            parse_webhook_batch(bad)
