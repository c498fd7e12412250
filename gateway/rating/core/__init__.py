"""The pure rating core: metering series and prices in, priced lines out. No I/O, no storage types."""

from gateway.rating.core.align import PricesMissingError
from gateway.rating.core.calendar import HELSINKI, Grid, local_midnight_utc
from gateway.rating.core.catalogue import Catalogue, MissingDataPolicy, Segment, VatKind
from gateway.rating.core.charges import CatalogueGapError, EnergyCharge, product_energy_charges
from gateway.rating.core.engine import EnergyBatch, rate_energy
from gateway.rating.core.inputs import AccountingPoint, Agreement, ProductAssignment
from gateway.rating.core.lines import PricedLine
from gateway.rating.core.quality import Quality
from gateway.rating.core.rate import PeriodHeldError, rate_period
from gateway.rating.core.rerate import delta_lines
from gateway.rating.core.series import MeteringSeries, PriceSeries
from gateway.rating.core.vat import VatLine, vat_breakdown

__all__ = [
    "HELSINKI",
    "AccountingPoint",
    "Agreement",
    "Catalogue",
    "CatalogueGapError",
    "EnergyBatch",
    "EnergyCharge",
    "Grid",
    "MeteringSeries",
    "MissingDataPolicy",
    "PeriodHeldError",
    "PriceSeries",
    "PricedLine",
    "PricesMissingError",
    "ProductAssignment",
    "Quality",
    "Segment",
    "VatKind",
    "VatLine",
    "delta_lines",
    "local_midnight_utc",
    "product_energy_charges",
    "rate_energy",
    "rate_period",
    "vat_breakdown",
]
