"""The internal JSON API (`/api/…`): an aiohttp sub-application over `gateway.queries`, documented by the
OpenAPI 3.1 document at `/api/openapi.json`, errors as RFC 9457 problem details."""

from __future__ import annotations

from gateway.api.app import api_app

__all__ = ["api_app"]
