"""Invoicing channels and how the provider job carries them."""

from __future__ import annotations

import pytest

from gateway.payments.core.channels import (
    ChannelError,
    DirectPaymentChannel,
    EInvoiceChannel,
    EmailChannel,
    PaperChannel,
    channel_from_fields,
    channel_from_provider_fields,
    provider_channel_fields,
)


@pytest.mark.parametrize("channel", [
    PaperChannel(),
    EInvoiceChannel("003712345671", "NDEAFIHH"),
    DirectPaymentChannel(),
    EmailChannel("maija.meikalainen@example.fi"),
])
def test_every_channel_survives_the_round_trip_through_the_provider_job(channel: object) -> None:
    fields = provider_channel_fields(channel)  # type: ignore[arg-type]
    assert channel_from_provider_fields(dict(fields)) == channel


def test_the_provider_job_fields_per_channel() -> None:
    assert provider_channel_fields(PaperChannel()) == {"deliverymethod": "paper"}
    assert provider_channel_fields(DirectPaymentChannel()) == {"deliverymethod": "directpayment"}
    assert provider_channel_fields(EInvoiceChannel("FI79 4405 2020 0360 82", "okoyfihh")) == {
        "deliverymethod": "einvoice", "einvoiceaddress": "FI7944052020036082", "einvoiceoperator": "OKOYFIHH"}
    assert provider_channel_fields(EmailChannel("a@b.fi")) == {"deliverymethod": "email", "email": "a@b.fi"}


@pytest.mark.parametrize(("kind", "address", "operator", "message"), [
    ("fax", None, None, "unknown invoicing channel"),
    ("e_invoice", "003712345671", None, "address and an operator"),
    ("e_invoice", "0037-1", "NDEAFIHH", "not 6-35"),
    ("email", "not an address", None, "not an e-mail"),
    ("email", None, None, "needs an address"),
])
def test_unusable_channels_are_refused_with_the_reason(kind: str, address: str | None, operator: str | None,
                                                       message: str) -> None:
    with pytest.raises(ChannelError, match=message):
        channel_from_fields(kind, address=address, operator=operator)
