"""Invoicing per legal entity: the pure core (``gateway.billing.core``) and the store-backed service beside it."""
