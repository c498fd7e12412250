"""A simulator of the Ropo-style invoice-lifecycle API (docs/payment-provider.md): jobs that advance on an
injectable clock (Invoicing → Due → Reminder → Collection → Paid), payments, status updates by polling and
by signed webhooks, and fault injection. For tests, the demo and partner sandboxes:
``gateway provider-sim [--port P] [--fault …]``."""
