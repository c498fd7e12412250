"""The API sub-application: routes from `gateway.api.routes.ROUTES`, problem+json for every error."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.access.guard import public
from gateway.access.problems import problem_response
from gateway.api.billing_routes import INVOICING_ROUTES
from gateway.api.payment_routes import PAYMENT_ROUTES
from gateway.api.routes import API_ENGINE, ROUTES, Forbidden, Unprocessable
from gateway.api.spec import ApiRoute, Handler, openapi_document
from gateway.api.validation import validated
from gateway.queries.pagination import BadQuery

log = logging.getLogger("gateway.api")

_DOCUMENT = web.AppKey("api_document", str)
ALL_ROUTES: list[ApiRoute] = [*ROUTES, *INVOICING_ROUTES, *PAYMENT_ROUTES]


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error of the API as application/problem+json, never a traceback or an HTML page."""
    try:
        return await handler(request)
    except BadQuery as error:
        return problem_response(400, str(error), kind="bad-parameter", instance=request.path)
    except Forbidden as error:
        return problem_response(403, str(error), kind="forbidden", instance=request.path)
    except Unprocessable as error:
        return problem_response(422, str(error), kind="cannot-compute", instance=request.path)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        detail = error.text if error.text and not error.text.startswith(f"{error.status}:") else error.reason
        kept = {k: v for k, v in error.headers.items() if k in ("Allow", "WWW-Authenticate", "Retry-After")}
        return problem_response(error.status, detail or error.reason, instance=request.path, headers=kept)
    except SQLAlchemyError:
        log.exception("database error on %s", request.path)
        return problem_response(503, "the database is not available or not migrated (`gateway migrate`)",
                                kind="database", instance=request.path)
    except Exception:
        log.exception("internal error on %s", request.path)
        return problem_response(500, "internal error; it has been logged", instance=request.path)


@public
async def openapi(request: web.Request) -> web.Response:
    return web.Response(text=request.app[_DOCUMENT], content_type="application/json", charset="utf-8")


def document() -> dict[str, Any]:
    return openapi_document(ALL_ROUTES, {})


def api_app(engine: Engine) -> web.Application:
    app = web.Application(middlewares=[problems])
    app[API_ENGINE] = engine
    app[_DOCUMENT] = json.dumps(document(), ensure_ascii=False)
    app.router.add_get("/openapi.json", openapi)
    for route in ALL_ROUTES:
        app.router.add_route(route.method, route.path, validated(route))
    return app
