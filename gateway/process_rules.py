"""Datahub's second validation level: may this party send this document in this process and role?

The table says which EnergyBusinessProcess codes and which sender roles (from the party registry) each inbound
document type accepts. Fingrid publishes the full process catalogue in its message documentation; this
table carries the processes docs/market.md §2.2 names and is the one place to extend.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain.message import DatahubMessage, MessageHeader, ProcessContext
from gateway.parties import PartyInfo

DATAHUB_ROLE = "DH"


@dataclass(frozen=True)
class InboundRule:
    process_prefixes: tuple[str, ...]
    sender_roles: frozenset[str]


INBOUND_RULES: dict[str, InboundRule] = {
    "E66": InboundRule(("DH-2",), frozenset({"DDM", "MDR", DATAHUB_ROLE})),
    "E58": InboundRule(("DH-12",), frozenset({"DDM", DATAHUB_ROLE})),
    "F01": InboundRule(("DH-11",), frozenset({"DDM", "DDQ", DATAHUB_ROLE})),
    "F04": InboundRule(("DH-31", "DH-32"), frozenset({"DDQ", DATAHUB_ROLE})),
    "F06": InboundRule(("DH-31", "DH-32", "DH-33", "DH-34"), frozenset({"DDQ", "DDM", DATAHUB_ROLE})),
    "ACK": InboundRule(("DH-",), frozenset({"DDM", "DDQ", "MDR", "ESC", DATAHUB_ROLE})),
}


@dataclass(frozen=True)
class ProcessViolation:
    code: str
    text: str


def check_process(
    message: DatahubMessage[object],
    authenticated: PartyInfo,
    juridical_sender: PartyInfo | None,
    own_glns: frozenset[str],
) -> list[ProcessViolation]:
    header: MessageHeader = message.header
    context: ProcessContext = message.context
    problems: list[ProcessViolation] = []
    rule = INBOUND_RULES.get(header.document_type)
    if rule is None:
        return [ProcessViolation("PRC.DOCUMENT_NOT_ACCEPTED",
                                 f"document type {header.document_type} is not accepted inbound")]
    if not context.business_process.startswith(rule.process_prefixes):
        problems.append(ProcessViolation(
            "PRC.WRONG_PROCESS",
            f"{header.document_type} cannot be sent in process {context.business_process} "
            f"(expected {' or '.join(p + '…' for p in rule.process_prefixes)})",
        ))
    if header.physical_sender != authenticated.gln:
        problems.append(ProcessViolation(
            "PRC.SENDER_NOT_AUTHENTICATED",
            f"physical sender {header.physical_sender} is not the authenticated party {authenticated.gln}",
        ))
    if header.juridical_sender != header.physical_sender and header.juridical_sender not in authenticated.acts_for:
        problems.append(ProcessViolation(
            "PRC.NOT_AUTHORISED",
            f"{authenticated.gln} is not authorised to send on behalf of {header.juridical_sender}",
        ))
    principal = juridical_sender or authenticated
    if DATAHUB_ROLE not in principal.roles and not (rule.sender_roles & set(principal.roles)):
        problems.append(ProcessViolation(
            "PRC.ROLE_NOT_ALLOWED",
            f"a party with role(s) {', '.join(principal.roles)} may not send {header.document_type} "
            f"(allowed: {', '.join(sorted(rule.sender_roles))})",
        ))
    if header.juridical_recipient not in own_glns:
        problems.append(ProcessViolation(
            "PRC.NOT_OUR_PARTY",
            f"juridical recipient {header.juridical_recipient} is not one of our GLNs",
        ))
    return problems
