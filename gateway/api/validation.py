"""Request parameters and JSON bodies checked against the route's own OpenAPI schemas, so the document is the
rule.

Covers the subset of JSON Schema the document uses: type string, integer or boolean, pattern, enum, minLength,
maxLength, minimum, maximum, format date / date-time (RFC 3339: with an offset), required; a body is an object
without properties the schema does not name. A violation is a 400 problem naming the parameter or property, and
so is a query parameter the route does not declare (or one given twice); a body that is not
`application/json` is a 415.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import date, datetime
from typing import Any, Final

from aiohttp import web

from gateway.api.spec import ApiRoute, Handler
from gateway.queries.pagination import BadQuery

BODY: Final = web.RequestKey("json_body", dict)  # the checked JSON body of a route that declares one
_MAX_BODY: Final = 64 * 1024
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _check(name: str, value: str, schema: dict[str, Any]) -> None:
    kind = schema.get("type", "string")
    if kind == "integer":
        if not re.fullmatch(r"-?[0-9]{1,19}", value):
            raise BadQuery(f"{name} must be an integer")
        number = int(value)
        if number < schema.get("minimum", number) or number > schema.get("maximum", number):
            raise BadQuery(f"{name} is out of range")
        return
    if "enum" in schema and value not in schema["enum"]:
        raise BadQuery(f"{name} must be one of {', '.join(schema['enum'])}")
    if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 10_000):
        raise BadQuery(f"{name} must be {schema.get('minLength', 0)}–{schema.get('maxLength', 10_000)} characters")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        raise BadQuery(f"{name} does not match {schema['pattern']}")
    fmt = schema.get("format")
    try:
        if fmt == "date":
            date.fromisoformat(value)
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ValueError(value)
        elif fmt == "date-time":
            if not _DATE_TIME.match(value):
                raise ValueError(value)
            datetime.fromisoformat(value.upper().replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        raise BadQuery(f"{name} must be an RFC 3339 {fmt}{' with a time zone' if fmt == 'date-time' else ''}") \
            from None


def check_parameters(route: ApiRoute, request: web.Request) -> None:
    declared = {p["name"] for p in route.parameters if p["in"] == "query"}
    for name in request.query:
        if name not in declared:
            raise BadQuery(f"unknown query parameter {name[:40]!r}; this route takes: {', '.join(sorted(declared))}")
        if len(request.query.getall(name)) > 1:
            raise BadQuery(f"query parameter {name} is given more than once")
    for parameter in route.parameters:
        name, where = parameter["name"], parameter["in"]
        source = request.match_info if where == "path" else request.query
        if name not in source:
            if parameter.get("required"):
                raise BadQuery(f"{name} is required")
            continue
        _check(name, source[name], parameter["schema"])


def check_body(schema: dict[str, Any], body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadQuery("the body must be a JSON object")
    properties: dict[str, Any] = schema.get("properties", {})
    for name in body:
        if name not in properties:
            raise BadQuery(f"unknown property {str(name)[:40]!r}; the body takes: {', '.join(sorted(properties))}")
    for name in schema.get("required", []):
        if name not in body:
            raise BadQuery(f"{name} is required")
    for name, value in body.items():
        rule = properties[name]
        kinds = rule.get("type", "string")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if value is None:
            if "null" not in kinds:
                raise BadQuery(f"{name} may not be null")
            continue
        if "boolean" in kinds and isinstance(value, bool):
            continue
        if "integer" in kinds and isinstance(value, int) and not isinstance(value, bool):
            _check(name, str(value), {**rule, "type": "integer"})
            continue
        if "string" in kinds and isinstance(value, str):
            _check(name, value, {**rule, "type": "string"})
            continue
        raise BadQuery(f"{name} must be {' or '.join(k for k in kinds if k != 'null')}")
    return body


async def read_body(route: ApiRoute, request: web.Request) -> dict[str, Any]:
    assert route.body is not None
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="the body must be application/json")
    if request.content_length is not None and request.content_length > _MAX_BODY:
        raise BadQuery(f"the body is larger than {_MAX_BODY} bytes")
    raw = await request.content.read(_MAX_BODY + 1)
    if len(raw) > _MAX_BODY:
        raise BadQuery(f"the body is larger than {_MAX_BODY} bytes")
    try:
        body = json.loads(raw.decode(request.charset or "utf-8"))
    except (ValueError, UnicodeDecodeError, LookupError):
        raise BadQuery("the body is not valid JSON") from None
    return check_body(route.body, body)


def validated(route: ApiRoute) -> Handler:
    """The route's handler behind its parameter (and body) check, keeping the handler's declared permission."""

    @functools.wraps(route.handler)
    async def handler(request: web.Request) -> web.StreamResponse:
        check_parameters(route, request)
        if route.body is not None:
            request[BODY] = await read_body(route, request)
        return await route.handler(request)

    return handler
