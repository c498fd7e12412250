"""The one error type of bad rating input (a file, a date, an unknown product): the CLI exits with 2."""

from __future__ import annotations


class RatingInputError(ValueError):
    """Input that cannot be rated or stored as given; the message says what to fix."""
