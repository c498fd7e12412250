"""RFC 9457 problem details (`application/problem+json`): the one error format of the JSON API and the guard."""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

PROBLEM_JSON: Final = "application/problem+json"
# Problem types are documented in docs/support.md; `about:blank` means "the status code says it all".
TYPE_BASE: Final = "tag:datahub-gateway,2026:problem:"

TITLES: Final = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    500: "Internal error",
    503: "Service unavailable",
}


def problem_body(status: int, detail: str, *, kind: str | None = None, instance: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + kind if kind else "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body


def problem_response(status: int, detail: str, *, kind: str | None = None, instance: str | None = None,
                     headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    body = problem_body(status, detail, kind=kind, instance=instance, **extra)
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False), content_type=PROBLEM_JSON,
                        charset="utf-8", headers=headers)
