"""``POST /webhooks/payment-provider``: the provider pushes batches of status updates.

The route authenticates with its own credential, not a user's token: the HMAC-SHA256 signature of the exact
body bytes with the shared secret (``[payment_provider] webhook_secret``; header ``X-Provider-Signature``), so
the access guard lets it through to this handler (gateway/access/guard.py). Answers:

* 401 problem+json: no secret configured, no or a wrong signature (nothing is read);
* 400: a body that is not a batch, or names an account we have no token for; 413 over 5 MB;
* 200 ``{"stored", "duplicates", "unknown"}`` only after the events are committed (a batch delivered again
  stores nothing: events are unique per account and event id);
* 503 when the database fails: the provider retries the batch.

Every batch whose signature holds is kept as received (``provider_webhook``, the message log's ``hook-N``):
a stored one in the transaction that stores its events, a refused one (not a batch, not our account) in a
short transaction of its own, with the reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Final

from aiohttp import web
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gateway.access.problems import problem_response
from gateway.payments.provider.api import SIGNATURE_HEADER, ApiFormatError, parse_webhook_batch, verify_signature
from gateway.payments.settings import ProviderSettings
from gateway.payments.status_updates import Stored, store_updates
from gateway.store.payments_tables import ProviderWebhookRow
from outbox.types import utcnow

WEBHOOK_PATH: Final = "/webhooks/payment-provider"
MAX_BODY: Final = 5 * 1024 * 1024

log = logging.getLogger("gateway.payments.webhook")


def archive_batch(session: Session, body: bytes, status: str, *, account: str | None = None,
                  batch_id: str | None = None, stored: Stored | None = None, error: str | None = None) -> None:
    """Keep a signed batch's exact bytes and what came of it, in the caller's transaction."""
    session.add(ProviderWebhookRow(
        received_at=utcnow(), account=account[:50] if account else None, batch_id=batch_id[:100] if batch_id else None,
        body=body, sha256=hashlib.sha256(body).hexdigest(), status=status, stored=stored.stored if stored else 0,
        duplicates=stored.duplicates if stored else 0, unknown=stored.unknown if stored else 0,
        error=error[:500] if error else None))


def _archive_refused(engine: Engine, body: bytes, error: str, account: str | None = None) -> None:
    try:
        with Session(engine) as session, session.begin():
            archive_batch(session, body, "rejected", account=account, error=error)
    except SQLAlchemyError as problem:  # the answer (400) does not depend on keeping it
        log.warning("a refused webhook batch was not archived: %s", type(problem).__name__)


def add_webhook_route(app: web.Application, engine: Engine, config: ProviderSettings) -> None:
    async def receive(request: web.Request) -> web.StreamResponse:
        if not config.webhook_secret:
            return problem_response(401, "webhooks are not configured ([payment_provider] webhook_secret)",
                                    kind="unauthenticated", instance=request.path)
        if (request.content_length or 0) > MAX_BODY:
            return problem_response(413, f"a webhook batch may have at most {MAX_BODY} bytes", kind="too-large",
                                    instance=request.path)
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return problem_response(413, f"a webhook batch may have at most {MAX_BODY} bytes", kind="too-large",
                                    instance=request.path)
        if not verify_signature(body, request.headers.get(SIGNATURE_HEADER), config.webhook_secret):
            return problem_response(401, f"missing or wrong {SIGNATURE_HEADER}", kind="unauthenticated",
                                    instance=request.path)
        try:
            batch = parse_webhook_batch(body)
        except ApiFormatError as error:
            await asyncio.to_thread(_archive_refused, engine, body, str(error))
            return problem_response(400, str(error)[:500], kind="invalid-batch", instance=request.path)
        if config.tokens and batch.account not in config.tokens:
            refused = f"account {batch.account!r} is not one of ours"
            await asyncio.to_thread(_archive_refused, engine, body, refused, batch.account)
            return problem_response(400, refused, kind="invalid-batch", instance=request.path)

        def store() -> Stored:
            with Session(engine) as session, session.begin():
                stored = store_updates(session, batch.account, batch.events, "webhook")
                archive_batch(session, body, "stored", account=batch.account, batch_id=batch.batch_id, stored=stored)
                return stored

        try:
            result = await asyncio.to_thread(store)
        except SQLAlchemyError as error:
            log.warning("webhook batch %s not stored: %s", batch.batch_id, type(error).__name__)
            return problem_response(503, "the batch could not be stored now; send it again",
                                    kind="unavailable", instance=request.path)
        return web.json_response({"batch_id": batch.batch_id, "stored": result.stored,
                                  "duplicates": result.duplicates, "unknown": result.unknown})

    app.router.add_post(WEBHOOK_PATH, receive)
