"""Configuration of receivables: the payment provider (`[payment_provider]`) and bank files (`[payments]`).

```toml
[payment_provider]
base_url = "https://api.provider.example/v1"   # no base_url: nothing is sent to the provider or polled
webhook_secret = "…"                  # the shared secret of POST /webhooks/payment-provider signatures
timeout_seconds = 30                  # one HTTP call (connect at most 5 s of it)
poll_interval_seconds = 300           # `gateway provider poll --watch`
[payment_provider.accounts]           # one provider account per legal entity (the catalogue names it)
ropo-retail-0001 = "bearer token of that account"

[payments]
max_bank_file_bytes = 268435456       # bank files are refused above this (a 100,000-entry camt.054 is ~55 MB)
```

`GATEWAY_PAYMENT_PROVIDER_URL` overrides `base_url` and `GATEWAY_PROVIDER_WEBHOOK_SECRET` the secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from gateway.config import ConfigError, Settings, check_public_url
from gateway.payments.bankfiles import DEFAULT_MAX_BANK_FILE_BYTES

URL_ENV = "GATEWAY_PAYMENT_PROVIDER_URL"
SECRET_ENV = "GATEWAY_PROVIDER_WEBHOOK_SECRET"


@dataclass(frozen=True)
class ProviderSettings:
    base_url: str | None = None
    tokens: Mapping[str, str] = field(default_factory=dict)  # provider account → bearer token
    webhook_secret: str | None = None
    timeout: float = 30.0
    poll_interval: float = 300.0

    @property
    def configured(self) -> bool:
        return bool(self.base_url)

    def token(self, account: str) -> str:
        try:
            return self.tokens[account]
        except KeyError:
            raise LookupError(f"no token for payment-provider account {account!r}: add it to "
                              "[payment_provider.accounts]") from None

    @property
    def call_budget(self) -> timedelta:
        """The longest one provider call can take: connect + read, and a margin."""
        return timedelta(seconds=min(5.0, self.timeout) + self.timeout + 5)


def provider_settings(settings: Settings) -> ProviderSettings:
    table = _table(settings.raw, "payment_provider")
    url = os.environ.get(URL_ENV) or table.get("base_url")
    if url is not None and not isinstance(url, str):
        raise ConfigError(f"[payment_provider] base_url must be a string, got {url!r}")
    accounts = table.get("accounts", {})
    if not isinstance(accounts, dict) or not all(isinstance(v, str) and v for v in accounts.values()):
        raise ConfigError("[payment_provider.accounts] maps each provider account to its token (a string)")
    secret = os.environ.get(SECRET_ENV) or table.get("webhook_secret")
    if secret is not None and (not isinstance(secret, str) or len(secret) < 16):
        raise ConfigError("[payment_provider] webhook_secret must be a string of at least 16 characters")
    return ProviderSettings(
        base_url=check_public_url(url, "[payment_provider] base_url") if url else None,
        tokens=dict(accounts), webhook_secret=secret or None,
        timeout=_positive(table.get("timeout_seconds", 30), "[payment_provider] timeout_seconds"),
        poll_interval=_positive(table.get("poll_interval_seconds", 300), "[payment_provider] poll_interval_seconds"),
    )


def max_bank_file_bytes(settings: Settings) -> int:
    value = _table(settings.raw, "payments").get("max_bank_file_bytes", DEFAULT_MAX_BANK_FILE_BYTES)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"[payments] max_bank_file_bytes must be a positive whole number, got {value!r}")
    return value


def _table(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    table = raw.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] must be a table")
    return table


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    return float(value)
