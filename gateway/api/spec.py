"""The API's routes as data, and the OpenAPI 3.1 document made from them.

A route is registered and documented from the same `ApiRoute`, so the document cannot miss a route; the
schemathesis test sends generated requests to every documented operation and checks each answer against the
document, so the schemas cannot drift from the handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from gateway.access.roles import GRANTS, Permission

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PROBLEM: Final = {"$ref": "#/components/schemas/Problem"}
_PROBLEM_CONTENT: Final = {"application/problem+json": {"schema": PROBLEM}}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


STR: Final = {"type": "string"}
OSTR: Final = nullable(STR)
INT: Final = {"type": "integer"}
OINT: Final = nullable(INT)
DECIMAL: Final = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
ODECIMAL: Final = nullable(DECIMAL)
TIME: Final = {"type": "string", "format": "date-time"}
OTIME: Final = nullable(TIME)
DAY: Final = {"type": "string", "format": "date"}
OBJ: Final = {"type": "object"}
OOBJ: Final = nullable(OBJ)
MESSAGE_ID: Final = {"type": "string", "pattern": "^(in|out|price|catalogue|inv|bank|prov|hook)-[0-9]{1,18}$"}
OMESSAGE_ID: Final = nullable(MESSAGE_ID)
GSRN: Final = {"type": "string", "pattern": "^[0-9]{18}$"}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": sorted(required), "properties": {**required, **(optional or {})}}


def page_of(item: dict[str, Any]) -> dict[str, Any]:
    return obj({"items": {"type": "array", "items": item}, "next_cursor": OSTR})


def query(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def path_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


PAGING: Final = [
    query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "items per page"),
    query("cursor", {"type": "string", "maxLength": 400}, "next_cursor of the previous page"),
]
REVEAL: Final = [
    query("reveal", {"type": "string", "enum": ["identity_code"]},
          "show personal identity codes in full (roles billing-admin and api-client; needs reason; audited)"),
    query("reason", {"type": "string", "minLength": 1, "maxLength": 500}, "why the full code is needed (audited)"),
]


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str  # below /api, as in the document
    handler: Handler
    permission: Permission
    summary: str
    tag: str
    response: dict[str, Any]
    parameters: list[dict[str, Any]] = field(default_factory=list)
    media_types: tuple[str, ...] = ("application/json",)
    errors: tuple[int, ...] = (400, 404)
    body: dict[str, Any] | None = None  # the JSON request body's schema (an object), checked before the handler
    media_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)  # per media type, instead of response

    @property
    def operation_id(self) -> str:
        return f"{self.method.lower()}_{self.path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}" \
            .replace("-", "_")


def _roles_with(permission: Permission) -> str:
    return ", ".join(sorted(r.value for r, grants in GRANTS.items() if permission in grants))


def openapi_document(routes: list[ApiRoute], components: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        responses: dict[str, Any] = {
            "200": {"description": "OK", "content": {
                m: {"schema": route.media_schemas.get(m, route.response)} for m in route.media_types}},
            "401": {"description": "no valid bearer token", "content": _PROBLEM_CONTENT},
            "403": {"description": "the role may not do this", "content": _PROBLEM_CONTENT},
        }
        for status in route.errors:
            responses[str(status)] = {"description": {400: "bad parameter", 404: "not found", 409: "conflict",
                                                      415: "the body must be application/json",
                                                      422: "cannot be computed"}.get(status, "error"),
                                      "content": _PROBLEM_CONTENT}
        operation: dict[str, Any] = {
            "operationId": route.operation_id,
            "summary": route.summary,
            "description": f"Roles: {_roles_with(route.permission)}.",
            "tags": [route.tag],
            "parameters": route.parameters,
            "responses": responses,
        }
        if route.body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.body}}}
        paths.setdefault("/api" + route.path, {})[route.method.lower()] = operation
    paths["/api/openapi.json"] = {"get": {
        "operationId": "get_openapi", "summary": "this document", "tags": ["meta"], "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": OBJ}}}},
    }}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Datahub gateway: internal API",
            "version": "1",
            "description": (
                "Read access to the message log, lineage, stored data, invoices with their explanation and "
                "documents, billing runs, payments and unmatched payments; outbox operations, billing runs and "
                "manual allocation of payments for billing admins. For support "
                "staff and the billing core. Lists answer {items, next_cursor} and take limit and cursor "
                "(keyset pages). Errors are RFC 9457 problem details. Personal identity codes are masked "
                "unless revealed (reveal=identity_code with a reason; audited)."),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": obj({"type": STR, "title": STR, "status": INT, "detail": STR},
                               {"instance": STR, "role": STR}),
                **components,
            },
        },
    }
