"""A bulk lookup by many values (`gateway.store.queries.in_values` / `in_ids` / `ids_matcher`, one array parameter on
PostgreSQL) finds exactly the rows holding those values, whatever characters the strings carry."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, MetaData, String, Table, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.store.queries import ids_matcher, in_ids, in_values

AWKWARD = ['plain', 'with "quotes"', "back\\slash", "comma,brace{}", " spaced ", "", "NULL", "ääkköset €",
           'end\\"', "RF18539007547034"]


def test_values_with_any_characters_are_found_exactly(engine: Engine) -> None:
    table = Table("lookup_values", MetaData(), Column("id", BigInteger, primary_key=True),
                  Column("value", String(40)))
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": n, "value": v} for n, v in enumerate([*AWKWARD, "other"], 1)])
    with Session(engine) as s:
        by_value = set(s.execute(select(table.c.value).where(in_values(s, table.c.value, AWKWARD))).scalars())
        by_id = sorted(s.execute(select(table.c.id).where(in_ids(s, table.c.id, [2, 4, 99]))).scalars())
        among = ids_matcher(s, [2, 4, 99])
        matched = sorted(s.execute(select(table.c.id).where(among(table.c.id) | among(table.c.id + 1))).scalars())
        none = s.execute(select(table.c.id).where(in_values(s, table.c.value, ["absent"]))).all()
    assert by_value == set(AWKWARD) and by_id == [2, 4] and none == []
    assert matched == [1, 2, 3, 4]  # one matcher, two columns
