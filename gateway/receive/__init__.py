"""The one receive pipeline. Every entry point (our SOAP endpoint, the Datahub pull worker, `gateway ingest`)
hands raw bytes here and gets one outcome back.

read (`reading`: hardened parse → schema by root namespace → XSD, every error with line and column → mapping) →
check (`checks`: resend, parties and process rules, event rules) → ONE transaction (`commit`: compressed raw
archive + message registry, unique per sender and message id + transaction registry + domain change + outbox
rows, + the ACK queued for a sender on our SOAP endpoint). Schema and process errors are answered as SOAP Faults
by the endpoint, event errors as BA02/BA03 ACKs.

`Receiver.receive` takes one message; `receive_many` a stream, with group commit (`group`) and exactly the
outcomes of one by one; `retry_parked` decides a parked message (`parking`) again. The validation helper process
(`helper`) is managed apart from the pipeline.
"""

from gateway.receive.helper import VALIDATION_HELPER_FROM
from gateway.receive.outcomes import (
    ACCEPTED,
    CHANNEL_CLI,
    CHANNEL_DATAHUB,
    CHANNEL_SOAP,
    DUPLICATE,
    EVENT,
    MAX_ERRORS,
    PARKED,
    PARTIALLY_ACCEPTED,
    PROCESS,
    REJECTED,
    SCHEMA,
    Issue,
    ReceiveOutcome,
)
from gateway.receive.parking import PARKED_RECHECK
from gateway.receive.receiver import Receiver

__all__ = [
    "ACCEPTED",
    "CHANNEL_CLI",
    "CHANNEL_DATAHUB",
    "CHANNEL_SOAP",
    "DUPLICATE",
    "EVENT",
    "MAX_ERRORS",
    "PARKED",
    "PARKED_RECHECK",
    "PARTIALLY_ACCEPTED",
    "PROCESS",
    "REJECTED",
    "SCHEMA",
    "VALIDATION_HELPER_FROM",
    "Issue",
    "ReceiveOutcome",
    "Receiver",
]
