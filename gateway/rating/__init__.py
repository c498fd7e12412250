"""Rating on top of the store: prices, catalogue versions, product assignments, rating and re-rating.

The pure engine lives in ``gateway.rating.core`` (no I/O, enforced by import-linter); the modules beside it
gather its inputs from the database, record rated periods and turn new metering or price versions into delta
lines through the outbox. Import from the submodules: this package stays light so the pure core can be
imported without the store.
"""
