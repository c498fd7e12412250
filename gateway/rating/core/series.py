"""Input time series of the rating core: metering values and spot prices, both on a UTC grid."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from gateway.rating.core.money import KWH_PER_UNIT, QUANTA_PER_EUR_PER_KWH

SUPPORTED_RESOLUTIONS = (15, 60)


def require_utc(instant: datetime, what: str) -> None:
    if instant.tzinfo is None or instant.utcoffset() != timedelta(0):
        raise ValueError(f"{what} must be a timezone-aware UTC datetime, got {instant!r}")


@dataclass(frozen=True, eq=False)
class MeteringSeries:
    """One metering time series as the metering store hands it to rating.

    ``values`` are micro-units (quantity × 10^6) of ``unit``; ``quality`` holds ``Quality`` codes.
    A missing interval carries any value (it is ignored) and ``Quality.MISSING``.
    """

    start: datetime
    resolution_minutes: int
    values: npt.NDArray[np.int64]
    quality: npt.NDArray[np.uint8]
    unit: str = "kWh"
    version: int = 1

    def __post_init__(self) -> None:
        require_utc(self.start, "series start")
        if self.resolution_minutes not in SUPPORTED_RESOLUTIONS:
            raise ValueError(f"unsupported resolution {self.resolution_minutes} min")
        if self.unit not in KWH_PER_UNIT:
            raise ValueError(f"unsupported unit {self.unit!r}")
        if self.values.ndim != 1 or self.values.shape != self.quality.shape:
            raise ValueError("values and quality must be 1-D arrays of the same length")
        if self.values.dtype != np.int64 or self.quality.dtype != np.uint8:
            raise ValueError("values must be int64 micro-units and quality uint8 codes")
        if self.start.minute % self.resolution_minutes or self.start.second or self.start.microsecond:
            raise ValueError("series start must be aligned to its resolution")

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.resolution_minutes * len(self.values))

    @classmethod
    def from_micro(
        cls,
        start: datetime,
        resolution_minutes: int,
        values: npt.ArrayLike,
        quality: npt.ArrayLike | None = None,
        unit: str = "kWh",
        version: int = 1,
    ) -> MeteringSeries:
        """Convenience constructor converting plain sequences; quality defaults to measured."""
        array = np.asarray(values, dtype=np.int64)
        codes = np.zeros(array.shape, dtype=np.uint8) if quality is None else np.asarray(quality, dtype=np.uint8)
        return cls(start, resolution_minutes, array, codes, unit, version)


@dataclass(frozen=True)
class PriceSeries:
    """Day-ahead prices of one bidding zone in €/MWh, one per interval (never clamped)."""

    zone: str
    start: datetime
    resolution_minutes: int
    prices_eur_per_mwh: tuple[Decimal, ...]
    document_id: str | None = None
    revision: int | None = None
    created: datetime | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        require_utc(self.start, "price series start")
        if self.resolution_minutes not in SUPPORTED_RESOLUTIONS:
            raise ValueError(f"unsupported price resolution {self.resolution_minutes} min")
        for price in self.prices_eur_per_mwh:
            # €/MWh with three decimals is one price quantum per kWh
            if (price * 1000) != (price * 1000).to_integral_value():
                raise ValueError(f"price {price} €/MWh has more than three decimals")

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.resolution_minutes * len(self.prices_eur_per_mwh))

    def quanta(self) -> npt.NDArray[np.int64]:
        """Prices in integer quanta of €/kWh (1 €/MWh = 1000 quanta)."""
        assert QUANTA_PER_EUR_PER_KWH == 1_000_000
        return np.array([int(p * 1000) for p in self.prices_eur_per_mwh], dtype=np.int64)

    def instants(self) -> list[datetime]:
        step = timedelta(minutes=self.resolution_minutes)
        return [self.start + i * step for i in range(len(self.prices_eur_per_mwh))]
