"""Reading a month's plan in bulk: each billed period's latest recorded rating, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.billing.plan import Unit, previous_year_consumption, recorded_ratings
from gateway.domain.identifiers import make_gsrn
from gateway.store.rating_tables import RatingResult
from outbox.types import utcnow

MARCH, MARCH_16, APRIL = date(2026, 3, 1), date(2026, 3, 16), date(2026, 4, 1)


def point(n: int) -> str:
    return make_gsrn(f"6430098{n:010d}")


def _rating(gsrn: str, start: date, end: date, revision: int, kwh: str = "1") -> dict[str, object]:
    line = {"accounting_point": gsrn, "legal_entity": "retail", "product_code": "EM-KIINTEA", "component": "energy",
            "quantity": kwh, "unit": "kWh", "amount": "1.00", "is_delta": False}
    return {"accounting_point": gsrn, "period_start": start, "period_end": end, "revision": revision,
            "lines": [line], "delta": [], "total": "1.00", "delta_total": "1.00", "inputs": {},
            "catalogue_version_id": None, "cause": f"rev {revision}", "created_at": utcnow()}


def test_each_wanted_period_gets_its_latest_revision_and_nothing_else_is_read_into_it(engine: Engine) -> None:
    a, b, c = point(1), point(2), point(3)
    with Session(engine) as s, s.begin():
        s.execute(insert(RatingResult), [
            _rating(a, MARCH, APRIL, 1), _rating(a, MARCH, APRIL, 2),
            _rating(a, MARCH, MARCH_16, 1),  # the same point and start, another period: not wanted
            _rating(b, MARCH_16, APRIL, 1),  # a mid-month move: the second half
            _rating(b, date(2026, 2, 1), MARCH, 1),  # the month before, outside the wanted starts
            _rating(c, MARCH, APRIL, 1),  # a point nobody asked for
        ])
    wanted = [(a, MARCH, APRIL), (b, MARCH_16, APRIL), (b, MARCH, MARCH_16)]
    with Session(engine) as s:
        found = recorded_ratings(s, wanted)
        assert recorded_ratings(s, []) == {}
    assert set(found) == {(a, MARCH, APRIL), (b, MARCH_16, APRIL)}  # (b, 1.–15.3.) was never rated
    assert found[(a, MARCH, APRIL)].revision == 2
    assert found[(b, MARCH_16, APRIL)].revision == 1


def test_many_points_are_read_in_chunks_and_the_previous_year_is_matched_by_period(engine: Engine) -> None:
    points = [point(n) for n in range(1, 1202)]  # more than one chunk on either backend
    last_march, last_april = MARCH.replace(year=2025), APRIL.replace(year=2025)
    with Session(engine) as s, s.begin():
        s.execute(insert(RatingResult), [_rating(p, MARCH, APRIL, 1) for p in points])
        s.execute(insert(RatingResult), [_rating(p, last_march, last_april, 1, kwh="250.5") for p in points[:3]])
    with Session(engine) as s:
        found = recorded_ratings(s, [(p, MARCH, APRIL) for p in points])
        assert set(found) == {(p, MARCH, APRIL) for p in points}
        previous = previous_year_consumption(s, [Unit(p, MARCH, APRIL, {"retail"}) for p in points[:5]])
    assert previous == {(p, "kWh"): Decimal("250.5") for p in points[:3]}
