"""SOAP 1.2 envelopes and Faults of Datahub's MarketMessaging service, and the Datahub client."""
