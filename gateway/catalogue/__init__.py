"""Loading the product catalogue (dated prices, taxes, VAT) from a documented TOML or YAML file."""

from gateway.catalogue.loader import CatalogueFormatError, load_catalogue, parse_catalogue

__all__ = ["CatalogueFormatError", "load_catalogue", "parse_catalogue"]
