"""Event rules on the header's parties and on customer ids."""

from __future__ import annotations

from collections.abc import Collection

from gateway.domain.codes import CustomerIdentificationType
from gateway.domain.customer import Customer
from gateway.domain.identifiers import PersonalIdentityCode, is_valid_business_id, is_valid_gln
from gateway.domain.message import MessageHeader
from gateway.validation.errors import EC, EventError


def check_header(header: MessageHeader, our_glns: Collection[str] | None = None) -> list[EventError]:
    """All four parties are GLNs with a correct check digit; when `our_glns` is given, the juridical
    recipient must be one of them."""
    errors = [
        EventError(EC.INVALID_GLN, f"{role} {gln!r} is not a valid GLN")
        for role, gln in (
            ("physical sender", header.physical_sender),
            ("juridical sender", header.juridical_sender),
            ("juridical recipient", header.juridical_recipient),
            ("physical recipient", header.physical_recipient),
        )
        if not is_valid_gln(gln)
    ]
    if our_glns is not None and header.juridical_recipient not in our_glns:
        errors.append(
            EventError(EC.INVALID_GLN, f"juridical recipient {header.juridical_recipient} is not a party of ours")
        )
    return errors


def check_customer(customer: Customer, transaction_id: str | None = None) -> list[EventError]:
    """A personal identity code (AA03) or business id (AA01) must pass its check; party-own ids
    (AA04) are opaque. The error text never contains a personal identity code in full."""
    ident = customer.identification
    if ident is None:
        return []
    if customer.identification_type == CustomerIdentificationType.PERSONAL_IDENTITY_CODE:
        code = ident if isinstance(ident, PersonalIdentityCode) else PersonalIdentityCode(ident)
        if not code.is_valid():
            return [EventError(EC.INVALID_CUSTOMER_ID, f"personal identity code {code} is not valid", transaction_id)]
    elif customer.identification_type == CustomerIdentificationType.BUSINESS_ID:
        text = ident.reveal() if isinstance(ident, PersonalIdentityCode) else ident
        if not is_valid_business_id(text):
            # Never echo the value: a personal identity code sent under the wrong type would leak in full.
            shown = PersonalIdentityCode(text).masked
            return [EventError(EC.INVALID_CUSTOMER_ID, f"business id {shown!r} is not valid", transaction_id)]
    return []
