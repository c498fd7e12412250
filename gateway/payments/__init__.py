"""Receivables: the payment-provider adapter and its simulator, bank payment files (camt.054, KTL),
allocation of payments by reference, dunning and late interest.

``core/`` is pure (no database, no network): the bank-entry type, allocation, dunning, interest and the
invoicing-channel vocabulary. ``provider/`` is the client side of the provider's REST API; ``provider_sim/``
is a simulator of that API for tests, the demo and partner sandboxes. ``bankfiles`` recognises, validates
and streams bank payment files through the pure mappings ``mappings.camt054`` and ``mappings.ktl``.
"""
