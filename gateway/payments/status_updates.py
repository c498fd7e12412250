"""The provider's status updates, by polling (``GET /jobs/statusupdates`` until 204) and by webhook: stored once
per (account, event id) whichever channel brings them first, then applied to the invoice.

Applying an update: the invoice's ``provider_job`` takes the newest status (by the update's time; an older
update arriving late changes nothing), the provider's paid and open amounts and fees; a delivered invoice
(any status after ``Invoicing``) is marked sent; the invoice's payment status is recomputed
(``gateway.payments.ledger``: Reminder → overdue, Collection → in_collection, Paid by the full-service
provider → paid). An update for a billcode we never sent is stored and reported, not applied.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.billing.service import mark_sent
from gateway.payments import ledger
from gateway.payments.provider.api import JobStatus, StatusUpdate
from gateway.payments.provider.client import ProviderClient, ProviderError
from gateway.payments.settings import ProviderSettings
from gateway.store.billing_tables import InvoiceRow
from gateway.store.payments_tables import ProviderEventRow, ProviderJobRow
from outbox.types import utcnow

log = logging.getLogger("gateway.payments.status")


@dataclass(frozen=True)
class Stored:
    stored: int
    duplicates: int
    unknown: int  # stored, but for a billcode without a job of ours


def store_updates(session: Session, account: str, updates: Sequence[StatusUpdate], via: str) -> Stored:
    """Store and apply ``updates`` of ``account`` in the caller's transaction; an event id seen before
    (on either channel) is skipped."""
    if not updates:
        return Stored(0, 0, 0)
    ids = [u.id for u in updates]
    known = set(session.execute(select(col(ProviderEventRow.event_id)).where(
        col(ProviderEventRow.account) == account, ledger.in_strings(session, col(ProviderEventRow.event_id), ids)
    )).scalars())
    fresh: dict[str, StatusUpdate] = {}
    for update in updates:
        if update.id not in known:
            fresh.setdefault(update.id, update)
    jobs = {j.billcode: j for j in session.execute(select(ProviderJobRow).where(
        col(ProviderJobRow.account) == account,
        ledger.in_strings(session, col(ProviderJobRow.billcode), sorted({u.billcode for u in fresh.values()})),
    ).order_by(col(ProviderJobRow.billcode)).with_for_update()).scalars()} if fresh else {}  # one lock order
    now = utcnow()
    touched: set[int] = set()
    unknown = 0
    table = ProviderEventRow.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    claimed = 0
    for update in sorted(fresh.values(), key=lambda u: (u.time, u.id)):
        job = jobs.get(update.billcode)
        # The other channel may store the same event between our read of ``known`` and here: the row is
        # claimed with INSERT … ON CONFLICT DO NOTHING and only the transaction that claimed it applies it.
        inserted = session.execute(insert(table).values(
            account=account, event_id=update.id[:100], event=update.event[:20], billcode=update.billcode[:35],
            jobid=update.jobid, status=update.status.value, at=update.time, open_amount=f"{update.openamount:.2f}",
            paid_amount=f"{update.paidamount:.2f}", fees=f"{update.fees:.2f}",
            invoice_id=job.invoice_id if job else None, via=via, received_at=now,
        ).on_conflict_do_nothing().returning(table.c.id)).first()
        if inserted is None:
            continue
        claimed += 1
        if job is None:
            unknown += 1
            # Usually the job's answer is still being recorded (adopt_orphan_events takes the event over then).
            log.info("provider %s: update %s for billcode %s, which has no job of ours yet", account, update.id,
                     update.billcode)
            continue
        _apply(session, job, update.status, update.time, f"{update.paidamount:.2f}", f"{update.openamount:.2f}",
               f"{update.fees:.2f}", now)
        touched.add(job.invoice_id)
    touched |= _adopt_known_orphans(session, account, known, jobs, now)
    session.flush()
    ledger.refresh(session, touched)
    return Stored(claimed, len(updates) - claimed, unknown)


def adopt_orphan_events(session: Session, job: ProviderJobRow) -> int:
    """Apply the events stored for ``job``'s billcode before the job itself was recorded, and return how many.

    The provider announces a job (``Invoicing``) the moment it creates it, often before our call's answer is
    recorded: such an event is stored without an invoice and taken over here, in the transaction that records
    the job (and again by ``store_updates`` when the other channel brings the same event later)."""
    orphans = list(session.execute(select(ProviderEventRow).where(
        col(ProviderEventRow.account) == job.account, col(ProviderEventRow.billcode) == job.billcode,
        col(ProviderEventRow.invoice_id).is_(None),
    ).order_by(col(ProviderEventRow.at), col(ProviderEventRow.id))).scalars())
    now = utcnow()
    for event in orphans:
        event.invoice_id = job.invoice_id
        _apply(session, job, JobStatus(event.status), event.at, event.paid_amount, event.open_amount, event.fees,
               now)
    if orphans:
        session.flush()
        ledger.refresh(session, {job.invoice_id})
    return len(orphans)


def _adopt_known_orphans(session: Session, account: str, known: set[str], jobs: dict[str, ProviderJobRow],
                         now: datetime) -> set[int]:
    """Events seen before (``known``) that were stored without a job while their job now exists: applied now."""
    if not known:
        return set()
    orphan_codes = set(session.execute(select(col(ProviderEventRow.billcode)).where(
        col(ProviderEventRow.account) == account, col(ProviderEventRow.invoice_id).is_(None),
        ledger.in_strings(session, col(ProviderEventRow.event_id), sorted(known)),
    )).scalars())
    if not orphan_codes:
        return set()
    found = {j.billcode: j for j in session.execute(select(ProviderJobRow).where(
        col(ProviderJobRow.account) == account, ledger.in_strings(session, col(ProviderJobRow.billcode),
                                                                  sorted(orphan_codes - jobs.keys())),
    ).order_by(col(ProviderJobRow.billcode)).with_for_update()).scalars()} if orphan_codes - jobs.keys() else {}
    touched: set[int] = set()
    for code in sorted(orphan_codes):
        job = jobs.get(code) or found.get(code)
        if job is not None and adopt_orphan_events(session, job):
            touched.add(job.invoice_id)
    return touched


def _apply(session: Session, job: ProviderJobRow, status: JobStatus, at: datetime, paid: str, open_amount: str,
           fees: str, now: datetime) -> None:
    """One update applied to its job: the newest status wins (an older one arriving late changes nothing but
    marking a delivered invoice sent)."""
    if at >= job.status_at:
        job.provider_status, job.status_at = status.value, at
        job.provider_paid, job.provider_open, job.provider_fees, job.updated_at = paid, open_amount, fees, now
    if status is not JobStatus.INVOICING:
        invoice = session.get(InvoiceRow, job.invoice_id)
        if invoice is not None and invoice.status == "issued":
            mark_sent(session, job.invoice_id, at)


def poll_account(engine: Engine, account: str, client: ProviderClient) -> dict[str, Any]:
    """Poll one account until 204, storing each page in its own transaction (a page is fetched once: the
    webhook channel carries any page whose storing failed)."""
    stored = duplicates = unknown = pages = 0
    page = client.fetch_status_updates()
    while page:
        pages += 1
        with Session(engine) as session, session.begin():
            result = store_updates(session, account, page, "poll")
        stored, duplicates, unknown = stored + result.stored, duplicates + result.duplicates, unknown + result.unknown
        page = client.fetch_status_updates()
    return {"pages": pages, "stored": stored, "duplicates": duplicates, "unknown": unknown}


def poll_provider(engine: Engine, config: ProviderSettings) -> dict[str, dict[str, Any]]:
    """Poll every configured account; a failing account is reported with its error, the others go on."""
    assert config.base_url is not None
    report: dict[str, dict[str, Any]] = {}
    for account, token in sorted(config.tokens.items()):
        with ProviderClient(config.base_url, token, timeout=(min(5.0, config.timeout), config.timeout)) as client:
            try:
                report[account] = poll_account(engine, account, client)
            except ProviderError as error:
                report[account] = {"pages": 0, "stored": 0, "duplicates": 0, "unknown": 0, "error": error.message}
    return report
