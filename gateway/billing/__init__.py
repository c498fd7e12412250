"""The pure rating core: metering series and prices in, priced lines out. No I/O, no storage types."""

from gateway.billing.align import PricesMissingError
from gateway.billing.calendar import HELSINKI, Grid, local_midnight_utc
from gateway.billing.catalogue import Catalogue, MissingDataPolicy, Segment, VatKind
from gateway.billing.charges import CatalogueGapError, EnergyCharge, product_energy_charges
from gateway.billing.engine import EnergyBatch, rate_energy
from gateway.billing.inputs import AccountingPoint, Agreement, ProductAssignment
from gateway.billing.lines import PricedLine
from gateway.billing.quality import Quality
from gateway.billing.rate import PeriodHeldError, rate_period
from gateway.billing.rerate import delta_lines
from gateway.billing.series import MeteringSeries, PriceSeries
from gateway.billing.vat import VatLine, vat_breakdown

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
