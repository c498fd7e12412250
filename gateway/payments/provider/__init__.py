"""The payment provider's REST API as the gateway sees it: the shared vocabulary (``api``) and a typed
client (``client``). The simulator in ``gateway.payments.provider_sim`` speaks the same vocabulary."""
