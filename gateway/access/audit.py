"""The access audit log: who saw an unmasked personal identity code or changed something, and why."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.orm import Session

from gateway.access.users import Principal
from gateway.store.support_tables import AccessAudit
from outbox.types import utcnow

REVEAL_IDENTITY_CODE: Final = "reveal_identity_code"
REPLAY: Final = "replay"
LOGIN: Final = "login"
BILLING_RUN: Final = "billing_run"  # asked for (written before the run starts)
BILLING_RUN_FINISHED: Final = "billing_run_finished"  # what came of it (the run id, counts, or the error)
ALLOCATE_PAYMENT: Final = "allocate_payment"  # an unmatched payment put on an invoice by hand (with the result)


def record_access(
    session: Session,
    principal: Principal,
    action: str,
    subject_type: str,
    subject_id: str,
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Write one audit row in the caller's transaction: the audit entry and what it audits commit together."""
    session.add(AccessAudit(
        at=utcnow(), user_id=principal.user_id, user_name=principal.name, role=principal.role.value,
        action=action, subject_type=subject_type, subject_id=subject_id[:100], reason=reason[:500], detail=detail,
    ))
