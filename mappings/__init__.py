"""Datahub XML ⇄ domain mappings, one module per document type (pure functions)."""
