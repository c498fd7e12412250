"""Masking Finnish personal identity codes (henkilötunnus) wherever they may travel in text.

Field-level masking is done where the data is read (`CustomerRow.identification_masked`, `to_json`); this
is the net under it: raw XML, validation error texts, outbox payloads and whole response bodies go through
`mask_identity_codes` before a user without an audited reveal sees them. The pattern is the code's shape
(DDMMYY, a century sign of the 2023 reform's set, three digits, a check character), whether or not its check
character is right: a mistyped code is still a person's code. The mask keeps the length, so line and column
numbers of errors in a masked document still point at the right place.
"""

from __future__ import annotations

import re
from typing import Final

IDENTITY_CODE: Final = re.compile(r"(?<![0-9A-Za-z])(\d{6}[-+ABCDEFUVWXY])(\d{3}[0-9A-Y])(?![0-9A-Za-z])")
IDENTITY_CODE_BYTES: Final = re.compile(IDENTITY_CODE.pattern.encode("ascii"))


def mask_identity_codes(text: str) -> str:
    """`131052-308T` → `131052-****` everywhere in `text`."""
    return IDENTITY_CODE.sub(lambda m: m.group(1) + "****", text)


def mask_identity_codes_bytes(data: bytes) -> bytes:
    """The same on bytes of an ASCII-compatible encoding (UTF-8 XML as received)."""
    return IDENTITY_CODE_BYTES.sub(lambda m: m.group(1) + b"****", data)


def contains_identity_code(text: str) -> bool:
    return IDENTITY_CODE.search(text) is not None
