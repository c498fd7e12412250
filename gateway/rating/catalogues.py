"""Catalogue versions in the store: a loaded file is kept verbatim, the newest one is active.

Besides the catalogue format (catalogue/README.md) this reads one optional table that belongs to the
gateway rather than to the pure core: how Datahub's E58 ``TaxCategory`` codes map to the catalogue's
electricity tax classes::

    [datahub.tax_categories]   # E58 TaxCategory → electricity tax class
    "1" = "1"
    "2" = "2"

Without that table a category is used as the class name only when the catalogue has a class of exactly
that name (the demo names its classes after Datahub's codes); anything else is an error naming the code.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.catalogue import CatalogueFormatError, parse_catalogue
from gateway.rating.core.catalogue import Catalogue
from gateway.rating.errors import RatingInputError
from gateway.store.rating_tables import CatalogueVersion
from outbox.types import utcnow

FORMATS = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}


@dataclass(frozen=True)
class ActiveCatalogue:
    version_id: int
    sha256: str
    catalogue: Catalogue
    tax_categories: Mapping[str, str]

    def tax_class_of(self, category: str | None, accounting_point: str) -> str | None:
        """The electricity tax class of an E58 TaxCategory (None when the point has none)."""
        if category is None:
            return None
        if self.tax_categories:
            if category not in self.tax_categories:
                raise RatingInputError(
                    f"accounting point {accounting_point}: TaxCategory {category!r} is not mapped in the "
                    "catalogue's [datahub.tax_categories]"
                )
            return self.tax_categories[category]
        if category not in self.catalogue.electricity_tax:
            raise RatingInputError(
                f"accounting point {accounting_point}: TaxCategory {category!r} is not an electricity tax class "
                "of the catalogue; map it in [datahub.tax_categories]"
            )
        return category


def _document(content: str, fmt: str, source: str) -> Mapping[str, Any]:
    try:
        data = tomllib.loads(content) if fmt == "toml" else yaml.safe_load(content)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        raise RatingInputError(f"{source}: not valid {fmt.upper()}: {error}") from None
    if not isinstance(data, Mapping):
        raise RatingInputError(f"{source}: the catalogue must be a table/mapping")
    return data


@lru_cache(maxsize=8)
def _parsed(sha256: str, fmt: str, content: str, source: str) -> tuple[Catalogue, Mapping[str, str]]:
    del sha256  # part of the cache key only
    data = _document(content, fmt, source)
    try:
        catalogue = parse_catalogue(data, source=source)
    except CatalogueFormatError as error:
        raise RatingInputError(str(error)) from None
    categories = dict(dict(data.get("datahub", {})).get("tax_categories", {}))
    mapping = {str(k): str(v) for k, v in categories.items()}
    for category, tax_class in mapping.items():
        if tax_class not in catalogue.electricity_tax:
            raise RatingInputError(
                f"{source}: [datahub.tax_categories] maps {category!r} to unknown tax class {tax_class!r}"
            )
    return catalogue, mapping


def store_catalogue(session: Session, content: str, fmt: str, source: str) -> tuple[CatalogueVersion, bool]:
    """Validate and store a catalogue; (row, created). Loading the active content again stores nothing."""
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    _parsed(digest, fmt, content, source)
    current = _newest(session)
    if current is not None and current.sha256 == digest:
        return current, False
    row = CatalogueVersion(sha256=digest, format=fmt, source=source[-300:], content=content, loaded_at=utcnow())
    session.add(row)
    session.flush()
    return row, True


def load_catalogue_file(engine: Engine, path: str | Path) -> tuple[CatalogueVersion, bool]:
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise RatingInputError(f"{path}: the catalogue must be a .toml, .yaml or .yml file")
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RatingInputError(f"cannot read {path}: {error}") from None
    with Session(engine, expire_on_commit=False) as session, session.begin():
        return store_catalogue(session, content, fmt, str(path))


def _newest(session: Session) -> CatalogueVersion | None:
    return session.execute(
        select(CatalogueVersion).order_by(col(CatalogueVersion.id).desc()).limit(1)
    ).scalar_one_or_none()


def active_catalogue(session: Session) -> ActiveCatalogue:
    row = _newest(session)
    if row is None or row.id is None:
        raise RatingInputError("no catalogue loaded: run `gateway products load FILE` first")
    catalogue, mapping = _parsed(row.sha256, row.format, row.content, row.source)
    return ActiveCatalogue(row.id, row.sha256, catalogue, mapping)
