"""The pure receivables core: bank entries, allocation, dunning, late interest, invoicing channels.

No database, no network, no XML (import-linter contract in pyproject.toml).
"""
