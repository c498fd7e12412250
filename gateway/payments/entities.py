"""The legal entities as receivables sees them (from the active catalogue): whose bank account an IBAN is, and
which provider account and mode handle an entity's invoices. A database with no catalogue loaded has none:
every account is then someone else's, and nothing is sent to a provider."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session
from stdnum import iban as stdnum_iban

from gateway.rating.catalogues import active_catalogue
from gateway.rating.core.catalogue import LegalEntity, ProviderMode
from gateway.rating.errors import RatingInputError


def catalogue_entities(session: Session) -> Mapping[str, LegalEntity]:
    try:
        return active_catalogue(session).catalogue.entities
    except RatingInputError:
        return {}


def own_accounts(entities: Mapping[str, LegalEntity]) -> dict[str, str]:
    """compact IBAN → entity id."""
    return {stdnum_iban.compact(e.iban): e.id for e in entities.values() if e.iban}


def compact_account(account: str) -> str:
    return stdnum_iban.compact(account)[:40]


def full_service(entity: LegalEntity | None) -> bool:
    return bool(entity and entity.payment_provider and entity.payment_provider.mode is ProviderMode.FULL_SERVICE)


def provider_account(entity: LegalEntity | None) -> str | None:
    return entity.payment_provider.account if entity and entity.payment_provider else None
