"""The `[datahub]` configuration section: how the gateway reaches Fingrid Datahub (or the simulator).

```toml
[datahub]
endpoint = "https://datahub.example/soap/FGR"   # no endpoint: nothing is pulled or sent
our_gln = "6430000000023"         # the party we poll and send as (a GLN registered as `own`)
datahub_gln = "6430000000016"     # the physical sender of everything pulled (unverified: configuration)
token = "…"                       # optional bearer token
client_cert = "/etc/gateway/datahub.crt"   # optional TLS client certificate (PEM) and its key
client_key = "/etc/gateway/datahub.key"
ca_bundle = "/etc/gateway/datahub-ca.pem"  # optional CA file to verify Datahub with
gln_header = true                 # send X-Party-GLN (the simulator's sandbox identity); default: only when
                                  # neither a token nor a client certificate identifies us
timeout_seconds = 30
retries = 3                       # attempts per SOAP call, the first included
domains = ["BB01", "BB02", "BB06"]  # queues to poll, in this order; empty: the whole queue at once
poll_backoff_min_seconds = 1
poll_backoff_max_seconds = 60
max_messages_per_poll = 1000
```

`GATEWAY_DATAHUB_ENDPOINT` overrides `endpoint`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.config import Settings
from gateway.soap.datahub_client import DatahubClient

ENDPOINT_ENV = "GATEWAY_DATAHUB_ENDPOINT"
# Invented, the same as the simulator's and the fixtures'; the real Datahub GLN is configuration (unverified).
DEFAULT_DATAHUB_GLN = "6430000000016"


class DatahubConfigError(ValueError):
    """The `[datahub]` section is incomplete or inconsistent."""


@dataclass(frozen=True)
class DatahubSettings:
    endpoint: str | None = None
    our_gln: str | None = None
    datahub_gln: str = DEFAULT_DATAHUB_GLN
    token: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    ca_bundle: str | None = None
    gln_header: bool | None = None
    timeout: float = 30.0
    retries: int = 3
    domains: tuple[str, ...] = ()
    backoff_min: float = 1.0
    backoff_max: float = 60.0
    max_messages_per_poll: int = 1000

    def __post_init__(self) -> None:
        if self.backoff_min <= 0 or self.backoff_max < self.backoff_min:
            raise DatahubConfigError("[datahub] needs 0 < poll_backoff_min_seconds <= poll_backoff_max_seconds")
        if self.retries < 1 or self.timeout <= 0:
            raise DatahubConfigError("[datahub] retries must be at least 1 and timeout_seconds positive")
        if (self.client_key is None) != (self.client_cert is None):
            raise DatahubConfigError("[datahub] client_cert and client_key go together")

    @property
    def sends_gln_header(self) -> bool:
        if self.gln_header is not None:
            return self.gln_header
        return self.token is None and self.client_cert is None

    def http_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.sends_gln_header and self.our_gln:
            headers["X-Party-GLN"] = self.our_gln
        return headers


def datahub_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> DatahubSettings:
    """The `[datahub]` section of the parsed configuration (see the module docstring)."""
    env = os.environ if environ is None else environ
    table: dict[str, Any] = dict(settings.raw.get("datahub", {}))
    domains = table.get("domains", ())
    if isinstance(domains, str):
        domains = [d for d in domains.replace(",", " ").split() if d]
    gln_header = table.get("gln_header")
    defaults = DatahubSettings()
    return DatahubSettings(
        endpoint=env.get(ENDPOINT_ENV) or table.get("endpoint") or None,
        our_gln=_text(table.get("our_gln")),
        datahub_gln=str(table.get("datahub_gln", defaults.datahub_gln)),
        token=_text(table.get("token")),
        client_cert=_text(table.get("client_cert")),
        client_key=_text(table.get("client_key")),
        ca_bundle=_text(table.get("ca_bundle")),
        gln_header=None if gln_header is None else bool(gln_header),
        timeout=float(table.get("timeout_seconds", defaults.timeout)),
        retries=int(table.get("retries", defaults.retries)),
        domains=tuple(str(d) for d in domains),
        backoff_min=float(table.get("poll_backoff_min_seconds", defaults.backoff_min)),
        backoff_max=float(table.get("poll_backoff_max_seconds", defaults.backoff_max)),
        max_messages_per_poll=int(table.get("max_messages_per_poll", defaults.max_messages_per_poll)),
    )


def make_client(config: DatahubSettings, endpoint: str | None = None) -> DatahubClient:
    """A zeep client for the configured endpoint (or `endpoint`), identified as `our_gln`."""
    url = endpoint or config.endpoint
    if not url:
        raise DatahubConfigError(f"no Datahub endpoint: set [datahub] endpoint or {ENDPOINT_ENV}")
    cert = (config.client_cert, config.client_key) if config.client_cert and config.client_key else None
    return DatahubClient(
        url,
        cert=cert,
        timeout=config.timeout,
        retries=config.retries,
        verify=config.ca_bundle or True,
        headers=config.http_headers(),
    )


def _text(value: object) -> str | None:
    return str(value) if value not in (None, "") else None
