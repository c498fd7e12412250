"""How a customer receives invoices, and how the provider job says it.

Four channels (DOMAIN: Datahub F04 carries the invoicing channel and the e-invoice address; banks' receiver
info can set it later): paper, e-invoice (an address — OVT/EDI code or IBAN-form consumer address — and the
operator's code), direct payment (suoramaksu: the bank presents the invoice and pays it on the due date
with the customer's standing consent) and e-mail.

The provider job carries the channel in ``deliverymethod`` with the channel's own fields beside it. These
field names are the simulator's (the real provider's field names for the channel were not available to us:
unverified); the mapping lives here, in one place, so that changing them is one edit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class ChannelKind(StrEnum):
    PAPER = "paper"
    E_INVOICE = "e_invoice"
    DIRECT_PAYMENT = "direct_payment"
    EMAIL = "email"


# The provider job's deliverymethod value per channel (simulator vocabulary; unverified).
PROVIDER_DELIVERY_METHOD: Final[dict[ChannelKind, str]] = {
    ChannelKind.PAPER: "paper",
    ChannelKind.E_INVOICE: "einvoice",
    ChannelKind.DIRECT_PAYMENT: "directpayment",
    ChannelKind.EMAIL: "email",
}

_EINVOICE_ADDRESS = re.compile(r"^[A-Z0-9]{6,35}$")  # OVT (0037 + business id digits …) or IBAN-form
_OPERATOR = re.compile(r"^[A-Z0-9]{4,35}$")  # operator / intermediator code, e.g. a BIC or 003… OVT code
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ChannelError(ValueError):
    """A channel that cannot be used as given (missing or malformed address)."""


@dataclass(frozen=True, slots=True)
class PaperChannel:
    kind: ChannelKind = ChannelKind.PAPER


@dataclass(frozen=True, slots=True)
class EInvoiceChannel:
    address: str
    operator: str
    kind: ChannelKind = ChannelKind.E_INVOICE

    def __post_init__(self) -> None:
        address, operator = _compact(self.address), _compact(self.operator)
        if not _EINVOICE_ADDRESS.match(address):
            raise ChannelError(f"e-invoice address {self.address!r} is not 6-35 letters and digits")
        if not _OPERATOR.match(operator):
            raise ChannelError(f"e-invoice operator {self.operator!r} is not 4-35 letters and digits")
        object.__setattr__(self, "address", address)
        object.__setattr__(self, "operator", operator)


@dataclass(frozen=True, slots=True)
class DirectPaymentChannel:
    kind: ChannelKind = ChannelKind.DIRECT_PAYMENT


@dataclass(frozen=True, slots=True)
class EmailChannel:
    address: str
    kind: ChannelKind = ChannelKind.EMAIL

    def __post_init__(self) -> None:
        if not _EMAIL.match(self.address.strip()):
            raise ChannelError(f"{self.address!r} is not an e-mail address")
        object.__setattr__(self, "address", self.address.strip())


InvoicingChannel = PaperChannel | EInvoiceChannel | DirectPaymentChannel | EmailChannel


def channel_from_fields(kind: str, *, address: str | None = None, operator: str | None = None) -> InvoicingChannel:
    """A channel from stored or configured fields (e.g. a customer row): ``kind`` is a ChannelKind value."""
    try:
        channel_kind = ChannelKind(kind)
    except ValueError:
        raise ChannelError(f"unknown invoicing channel {kind!r}; choose one of "
                           f"{', '.join(k.value for k in ChannelKind)}") from None
    if channel_kind is ChannelKind.PAPER:
        return PaperChannel()
    if channel_kind is ChannelKind.DIRECT_PAYMENT:
        return DirectPaymentChannel()
    if channel_kind is ChannelKind.EMAIL:
        if not address:
            raise ChannelError("the e-mail channel needs an address")
        return EmailChannel(address)
    if not address or not operator:
        raise ChannelError("the e-invoice channel needs an address and an operator")
    return EInvoiceChannel(address, operator)


def provider_channel_fields(channel: InvoicingChannel) -> dict[str, str]:
    """The provider job's fields for this channel (merged into the job's dataset item)."""
    fields = {"deliverymethod": PROVIDER_DELIVERY_METHOD[channel.kind]}
    if isinstance(channel, EInvoiceChannel):
        fields["einvoiceaddress"] = channel.address
        fields["einvoiceoperator"] = channel.operator
    elif isinstance(channel, EmailChannel):
        fields["email"] = channel.address
    return fields


def channel_from_provider_fields(fields: dict[str, object]) -> InvoicingChannel:
    """The inverse of ``provider_channel_fields`` (the simulator reads jobs with it)."""
    method = str(fields.get("deliverymethod") or PROVIDER_DELIVERY_METHOD[ChannelKind.PAPER])
    for kind, value in PROVIDER_DELIVERY_METHOD.items():
        if value == method:
            address = fields.get("email") if kind is ChannelKind.EMAIL else fields.get("einvoiceaddress")
            operator = fields.get("einvoiceoperator")
            return channel_from_fields(kind.value, address=str(address) if address else None,
                                       operator=str(operator) if operator else None)
    known = ", ".join(PROVIDER_DELIVERY_METHOD.values())
    raise ChannelError(f"unknown deliverymethod {method!r}; choose one of {known}")


def _compact(text: str) -> str:
    return "".join(text.split()).upper()
