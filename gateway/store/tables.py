"""The gateway's own tables (SQLModel). The outbox's tables live in the `outbox` package."""

from __future__ import annotations
