"""Keyset pagination: a page is `limit` items after an opaque cursor, never an OFFSET.

A cursor is the sort key of the last item returned, base64url-encoded JSON; it stays valid while rows are
added (new rows sort before it, newest first) and costs one index range scan however deep the page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

T = TypeVar("T")

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500


class BadQuery(ValueError):
    """A query parameter that cannot be used as given (the API answers 400 with its text)."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(key: Sequence[Any]) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadQuery("cursor is not one this service issued") from None
    if not isinstance(key, list) or len(key) != arity:
        raise BadQuery("cursor is not one this service issued")
    return key


def parse_limit(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_LIMIT
    try:
        value = int(text)
    except ValueError:
        raise BadQuery(f"limit must be an integer from 1 to {MAX_LIMIT}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise BadQuery(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return value
