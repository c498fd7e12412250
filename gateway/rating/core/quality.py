"""The one mapping between Datahub quality codes and the uint8 codes carried in metering arrays.

Datahub sends an optional quality ``QQ`` per observation or ``QM=1`` for a missing value (docs/market.md §2.4;
the meaning of the codes is taken from Datahub's own mapping and is unverified, so nothing else in the
code base may spell these numbers).
"""

from __future__ import annotations

from enum import IntEnum


class Quality(IntEnum):
    MEASURED = 0  # QQ absent
    REVISED = 1  # QQ Z01
    UNCERTAIN = 2  # QQ Z02
    ESTIMATED = 3  # QQ 99
    PARTIALLY_MISSING = 4  # QQ Z04 (responses only)
    MISSING = 5  # QM=1

    @classmethod
    def from_datahub(cls, qq: str | None, qm_missing: bool = False) -> Quality:
        if qm_missing:
            return cls.MISSING
        if qq is None or qq == "":
            return cls.MEASURED
        try:
            return _BY_DATAHUB_CODE[qq]
        except KeyError:
            raise ValueError(f"unknown Datahub quality code {qq!r}") from None

    @property
    def datahub_code(self) -> str | None:
        return _DATAHUB_CODE_OF[self]

    @property
    def is_missing(self) -> bool:
        return self in (Quality.MISSING, Quality.PARTIALLY_MISSING)

    @property
    def is_estimated(self) -> bool:
        return self is Quality.ESTIMATED


_BY_DATAHUB_CODE: dict[str, Quality] = {
    "Z01": Quality.REVISED,
    "Z02": Quality.UNCERTAIN,
    "99": Quality.ESTIMATED,
    "Z04": Quality.PARTIALLY_MISSING,
}
_DATAHUB_CODE_OF: dict[Quality, str | None] = {q: c for c, q in _BY_DATAHUB_CODE.items()} | {
    Quality.MEASURED: None,
    Quality.MISSING: None,
}

MISSING_CODES: tuple[int, ...] = (int(Quality.MISSING), int(Quality.PARTIALLY_MISSING))
ESTIMATED_CODES: tuple[int, ...] = (int(Quality.ESTIMATED),)
