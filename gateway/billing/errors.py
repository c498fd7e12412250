"""The error type of bad invoicing input (an unknown entity, a customer without a name): the CLI exits with 2."""

from __future__ import annotations


class BillingInputError(ValueError):
    """Input that cannot be invoiced or stored as given; the message says what to fix."""
