"""Rating on top of the store: prices, catalogue versions, product assignments, rating and re-rating.

The pure engine lives in ``gateway.billing``; this package gathers its inputs from the database, records
rated periods and turns new metering or price versions into delta lines through the outbox.
"""

from gateway.rating.assignments import AssignmentSpec, assign_product, list_assignments, read_assignment_csv
from gateway.rating.batch import MeteringMatrix, load_metering_matrix
from gateway.rating.catalogues import ActiveCatalogue, active_catalogue, load_catalogue_file, store_catalogue
from gateway.rating.errors import RatingInputError
from gateway.rating.handlers import register_rating_handlers
from gateway.rating.heat import import_heat_csv, parse_heat_csv
from gateway.rating.prices import (
    TOPIC_PRICES,
    PriceImportResult,
    import_price_file,
    import_prices,
    load_prices,
    parse_price_file,
)
from gateway.rating.service import (
    Rated,
    rate_accounting_point,
    rate_and_record,
    rate_in_session,
    record_rating,
    rerate,
)

__all__ = [
    "TOPIC_PRICES",
    "ActiveCatalogue",
    "AssignmentSpec",
    "MeteringMatrix",
    "PriceImportResult",
    "Rated",
    "RatingInputError",
    "active_catalogue",
    "assign_product",
    "import_heat_csv",
    "import_price_file",
    "import_prices",
    "list_assignments",
    "load_catalogue_file",
    "load_metering_matrix",
    "load_prices",
    "parse_heat_csv",
    "parse_price_file",
    "rate_accounting_point",
    "rate_and_record",
    "rate_in_session",
    "read_assignment_csv",
    "record_rating",
    "register_rating_handlers",
    "rerate",
    "store_catalogue",
]
