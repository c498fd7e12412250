"""Web pages for support staff (`/support/…`): message log, message detail with the raw XML and its errors,
accounting point with consumption, prices and what-if, rating lineage, dead letters with replay."""

from __future__ import annotations

from gateway.support.app import support_app

__all__ = ["support_app"]
