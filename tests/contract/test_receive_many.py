"""Group commit (`Receiver.receive_many`) gives exactly the outcomes and stored state of one-by-one receiving."""

from __future__ import annotations

import hashlib
import json
import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.apply import TOPIC_RELEASE_PARKED
from gateway.receive import ACCEPTED, CHANNEL_CLI, CHANNEL_DATAHUB, DUPLICATE, PARKED, ReceiveOutcome, Receiver
from gateway.receive.landing import LandedQueue
from gateway.store.db import make_engine
from gateway.store.tables import MessageRecord, MeteringSeriesRow, ParkedMessage, RawMessage, TransactionRecord
from gateway.xml.validate_ahead import Verdicts, second_core_available
from mappings import samples
from outbox import HandlerRegistry
from outbox.schema import outbox_message
from outbox.worker import Worker
from tests.support.databases import fresh_database_url
from tests.support.pipeline import register_parties

DATAHUB = samples.DATAHUB_GLN
US = samples.OUR_SUPPLIER_GLN
DAY_1, DAY_2, DAY_3 = date(2026, 1, 15), date(2026, 1, 16), date(2026, 1, 17)
P = [samples.gsrn(n) for n in range(1, 6)]


def _e58(point: str) -> bytes:
    return samples.e58_message(point, datetime(2026, 1, 1, tzinfo=UTC))


def _e66(points: list[str], day: date, seed: int = 0) -> bytes:
    return samples.e66_message(DATAHUB, US, points, day, seed=seed)


def _stream() -> list[bytes]:
    """Plain runs broken by everything that must not join one: master data, corrections of a period stored
    earlier in the stream, parking, resends, an id reused with other bytes, an invalid document, a repeated
    transaction id, and master data that a later message depends on."""
    second = _e66([P[1]], DAY_1)
    return [
        _e58(P[0]),
        _e58(P[1]),
        _e66([P[0]], DAY_1),
        second,
        _e66([P[0]], DAY_1, seed=1),  # correction: version 2 of the period
        _e66([P[2]], DAY_1),  # not known yet: parked
        _e58(P[2]),
        _e66([P[2]], DAY_2),  # known now
        second,  # identical resend: duplicate
        second.replace(b"<elm:QTY>", b"<elm:QTY>1", 1),  # same id, other bytes: refused
        b"<not-datahub/>",
        _e66([P[1]], DAY_2, seed=9).replace(b"<elm:QTY>", b"<elm:QTY>x", 1),  # XSD-invalid
        _e66([P[0], P[1]], DAY_3),
        _e66([P[1]], DAY_3),  # its transaction id was in the bundle before: event error
        _e66([P[3]], DAY_1),  # parked
        _e66([P[0]], DAY_1, seed=2),  # version 3
        *[_e66([p], DAY_2, seed=7) for p in (P[0], P[1])],
        _e66([P[0]], DAY_2, seed=8),  # a correction inside what would otherwise be one run
    ]


@pytest.fixture
def second_engine(database_url: str, tmp_path: Path) -> Iterator[Engine]:
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    with fresh_database_url(backend, tmp_path / "second", migrated=True) as url:
        eng = make_engine(url)
        yield eng
        eng.dispose()


def _summary(outcomes: list[ReceiveOutcome]) -> list[tuple[Any, ...]]:
    return [(o.result, o.level, o.reason_code, o.message_id, o.transactions, tuple(o.errors)) for o in outcomes]


def _state(engine: Engine) -> dict[str, Any]:
    with Session(engine) as s:
        return {
            "series": sorted(
                (r.accounting_point, r.period_start, r.version, r.values, r.transaction_id)
                for r in s.execute(select(MeteringSeriesRow)).scalars()),
            "messages": sorted(
                (r.message_id or "", r.status, r.reason_code or "", r.transactions)
                for r in s.execute(select(MessageRecord)).scalars()),
            "transactions": sorted(
                (r.transaction_id, r.status) for r in s.execute(select(TransactionRecord)).scalars()),
            "parked": sorted(r.waiting_for[0] for r in s.execute(select(ParkedMessage)).scalars()),
            "events": sorted(
                str(t) for t in s.execute(select(outbox_message.c.topic)).scalars()),
            "archive": sorted(  # every raw body there, whoever compressed it, and intact
                (r.sha256, hashlib.sha256(zlib.decompress(r.body)).hexdigest(), r.size)
                for r in s.execute(select(RawMessage)).scalars()),
        }


@pytest.mark.parametrize("helper", [False, True], ids=["validated-here", "validation-helper"])
def test_group_commit_matches_one_by_one_receiving(
    engine: Engine, second_engine: Engine, helper: bool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    if helper and not second_core_available():
        pytest.skip("the validation helper is only used with a second core")
    stream = _stream()
    for eng in (engine, second_engine):
        register_parties(eng)
    verdicts: list[object] = []
    monkeypatch.setattr("gateway.receive.helper.VALIDATION_HELPER_FROM", 1)
    monkeypatch.setattr("gateway.xml.validate_ahead.PATIENCE_S", 60.0)  # every verdict from the helper
    original = Verdicts.issues
    monkeypatch.setattr(Verdicts, "issues", lambda self, i: verdicts.append(original(self, i)) or verdicts[-1])
    one_by_one = [Receiver(engine).receive(d, authenticated_gln=DATAHUB, channel=CHANNEL_DATAHUB,
                                           allow_parking=True) for d in stream]
    receiver = Receiver(second_engine, validation_helper=helper)
    receiver.warm_up(wait=True)  # a helper still starting gives no verdicts (the stream validates itself)
    try:
        grouped = list(receiver.receive_many(stream, authenticated_gln=DATAHUB, channel=CHANNEL_DATAHUB,
                                             allow_parking=True))
    finally:
        receiver.close()
    assert _summary(grouped) == _summary(one_by_one)
    judged = [v for v in verdicts if v is not None]
    assert (len(judged) >= len(stream) - 2 and [] in judged and any(judged)) if helper else not verdicts
    assert any(e.code.startswith("XSD.") and e.line for o in grouped for e in o.errors)
    results = [o.result for o in grouped]
    assert results.count(ACCEPTED) >= 10 and DUPLICATE in results and "parked" in results
    assert _state(second_engine) == _state(engine)
    versions = [v for p, _, v, *_ in _state(engine)["series"] if p == P[0]]
    assert sorted(versions) == [1, 1, 1, 2, 2, 3]
    # The retry path: the parked message whose point arrived later in the stream is released by the same checks
    # and the same commit on both sides.
    assert _release_parked(engine) == _release_parked(second_engine) == [ACCEPTED]
    assert _state(second_engine) == _state(engine)
    assert sorted(_state(engine)["parked"]) == [P[2], P[3]]


def test_landing_then_receiving_matches_one_by_one_receiving(engine: Engine, second_engine: Engine) -> None:
    """The pull worker's path: every message landed (one row, one commit) first, then received from the landing
    table in group commits — the same outcomes and stored state as receiving each at once, the retry path
    included; nothing stays landed."""
    stream = _stream()
    for eng in (engine, second_engine):
        register_parties(eng)
    one_by_one = [Receiver(engine).receive(d, authenticated_gln=DATAHUB, channel=CHANNEL_DATAHUB,
                                           allow_parking=True) for d in stream]
    receiver = Receiver(second_engine)
    queue = LandedQueue(second_engine, receiver)
    landed_ids = [queue.land(d, channel=CHANNEL_DATAHUB, sender=DATAHUB, reference=f"ref-{n}")
                  for n, d in enumerate(stream)]
    received, stuck = queue.drain()
    receiver.close()
    assert stuck is None and queue.waiting() == 0
    assert [r.landed_id for r in received] == landed_ids
    assert _summary([r.outcome for r in received]) == _summary(one_by_one)
    assert _state(second_engine) == _state(engine)
    assert _release_parked(engine) == _release_parked(second_engine) == [ACCEPTED]
    assert _state(second_engine) == _state(engine)


def test_a_landed_message_the_pipeline_fails_on_stays_landed_with_everything_after_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_parties(engine)
    receiver = Receiver(engine)
    queue = LandedQueue(engine, receiver)
    for p in P[:3]:
        queue.land(_e58(p), channel=CHANNEL_DATAHUB, sender=DATAHUB)
    messages = [_e66([p], DAY_1) for p in P[:3]]
    ids = [queue.land(m, channel=CHANNEL_DATAHUB, sender=DATAHUB, reference=f"e66-{n}")
           for n, m in enumerate(messages)]

    import gateway.apply as apply

    real_pack = apply.pack

    def failing_pack(txn: Any) -> Any:
        if txn.accounting_point == P[1]:
            raise RuntimeError("disk on fire")
        return real_pack(txn)

    monkeypatch.setattr(apply, "pack", failing_pack)
    received, stuck = queue.drain()
    assert stuck is not None and stuck.landed_id == ids[1] and "disk on fire" in str(stuck.error)
    assert [r.outcome.result for r in received] == [ACCEPTED] * 4, "the master data and the first series"
    assert queue.waiting() == 2, "the failing message and the one after it wait, in order"

    monkeypatch.setattr(apply, "pack", real_pack)
    received, stuck = queue.drain()
    assert stuck is None and [r.landed_id for r in received] == ids[1:]
    assert [r.outcome.result for r in received] == [ACCEPTED] * 2 and queue.waiting() == 0
    receiver.close()


def _release_parked(engine: Engine) -> list[str]:
    """Run the release events that are due, as the outbox worker does; what each retry decided."""
    receiver = Receiver(engine)
    decided: list[str] = []
    registry = HandlerRegistry()
    registry.register(TOPIC_RELEASE_PARKED, lambda session, message: decided.append(
        receiver.retry_parked(session, int(message.payload["parked_id"]))), consumer="gateway.parked")
    Worker(engine, registry).drain()
    receiver.close()
    return decided


def test_a_released_parked_message_ends_as_if_it_had_arrived_after_its_master_data(
    engine: Engine, second_engine: Engine
) -> None:
    """retry_parked ≡ receiving the message once its master data is there: registries, transactions, series."""
    bundle = _e66([P[0], P[1]], DAY_1)
    for eng in (engine, second_engine):
        register_parties(eng)
    late = Receiver(engine)
    assert late.receive(bundle, authenticated_gln=DATAHUB, channel=CHANNEL_DATAHUB, allow_parking=True).result == PARKED
    late.receive(_e58(P[0]), authenticated_gln=DATAHUB, channel=CHANNEL_DATAHUB)
    assert _release_parked(engine) == [PARKED], "one of its two points is still unknown: it stays parked"
    late.receive(_e58(P[1]), authenticated_gln=DATAHUB, channel=CHANNEL_DATAHUB)
    assert _release_parked(engine) == [ACCEPTED]

    in_order = Receiver(second_engine)
    for data in (_e58(P[0]), _e58(P[1]), bundle):
        in_order.receive(data, authenticated_gln=DATAHUB, channel=CHANNEL_DATAHUB, allow_parking=True)

    def decided(eng: Engine) -> dict[str, Any]:
        state = _state(eng)
        state["events"] = [e for e in state["events"] if e != TOPIC_RELEASE_PARKED]
        del state["parked"]
        return state

    assert decided(engine) == decided(second_engine)


def test_plain_metering_messages_are_stored_as_one_run(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    register_parties(engine)
    receiver = Receiver(engine)
    master_data = list(receiver.receive_many([_e58(p) for p in P], authenticated_gln=DATAHUB, channel=CHANNEL_CLI))
    assert [o.result for o in master_data] == [ACCEPTED] * len(P)
    commits: list[int] = []
    original = Receiver._commit
    monkeypatch.setattr(Receiver, "_commit",
                        lambda self, drafts, *a: commits.append(len(drafts)) or original(self, drafts, *a))
    messages = [_e66([p], day) for p in P for day in (DAY_1, DAY_2, DAY_3)]
    outcomes = list(receiver.receive_many(messages, authenticated_gln=DATAHUB, channel=CHANNEL_CLI))
    assert [o.result for o in outcomes] == [ACCEPTED] * len(messages)
    assert commits == [len(messages)], "every message went into one run"
    with Session(engine) as s:
        assert len(s.execute(select(MeteringSeriesRow)).all()) == len(messages)


def test_two_concurrent_group_commits_of_the_same_messages_store_each_once(engine: Engine) -> None:
    register_parties(engine)
    for p in P:
        Receiver(engine).receive(_e58(p), authenticated_gln=DATAHUB, channel=CHANNEL_CLI)
    messages = [_e66([p], day) for p in P for day in (DAY_1, DAY_2, DAY_3)]
    results: list[list[ReceiveOutcome]] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        receiver = Receiver(engine)
        barrier.wait()
        results.append(list(receiver.receive_many(messages, authenticated_gln=DATAHUB, channel=CHANNEL_CLI)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    for i in range(len(messages)):
        assert sorted(r[i].result for r in results) in ([ACCEPTED, DUPLICATE], [DUPLICATE, ACCEPTED])
    with Session(engine) as s:
        assert len(s.execute(select(MeteringSeriesRow)).all()) == len(messages)
        assert len(s.execute(select(MessageRecord)).all()) == len(messages) + len(P)


def test_a_run_that_loses_a_race_hands_out_each_outcome_once_it_is_durable(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent delivery detected at insert time rolls the run back; its messages then go one by one, and
    if that stops half-way the ones already stored have been handed out."""
    import gateway.receive.commit as commit_module

    register_parties(engine)
    receiver = Receiver(engine)
    for p in P:
        receiver.receive(_e58(p), authenticated_gln=DATAHUB, channel=CHANNEL_CLI)
    messages = [_e66([p], DAY_1) for p in P]
    real_store, real_receive = commit_module.store_metering_batch, Receiver.receive
    calls = {"store": 0, "receive": 0}

    def racing_store(*args: Any, **kwargs: Any) -> None:
        calls["store"] += 1
        if calls["store"] == 1:  # as if another process had just committed one of these ids
            with Session(engine) as other, other.begin():
                pass
            raise IntegrityError("INSERT", None, Exception(
                "UNIQUE constraint failed: message_registry.sender_gln, message_registry.message_id"))
        real_store(*args, **kwargs)

    def failing_third(self: Receiver, *args: Any, **kwargs: Any) -> ReceiveOutcome:
        calls["receive"] += 1
        if calls["receive"] == 3:
            raise RuntimeError("database went away")
        return real_receive(self, *args, **kwargs)

    monkeypatch.setattr(commit_module, "store_metering_batch", racing_store)
    monkeypatch.setattr(Receiver, "receive", failing_third)
    handed_out: list[str] = []
    with pytest.raises(RuntimeError, match="went away"):
        for outcome in receiver.receive_many(messages, authenticated_gln=DATAHUB, channel=CHANNEL_CLI):
            handed_out.append(outcome.result)
    assert handed_out == [ACCEPTED, ACCEPTED]
    with Session(engine) as s:
        assert len(s.execute(select(MeteringSeriesRow)).all()) == 2, "exactly the handed-out ones are stored"


def test_bulk_and_single_inserts_store_the_same_values(engine: Engine, second_engine: Engine) -> None:
    """Binary COPY (runs, PostgreSQL) and plain inserts store identical rows in every table a run writes: text,
    integers, bytea, UTC timestamps and JSON, JSON null included."""
    stream = [_e66([p], day) for p in P for day in (DAY_1, DAY_2)]
    for eng in (engine, second_engine):
        register_parties(eng)
        for p in P:
            Receiver(eng).receive(_e58(p), authenticated_gln=DATAHUB, channel=CHANNEL_CLI)
    for data in stream:
        Receiver(engine).receive(data, authenticated_gln=DATAHUB, channel=CHANNEL_CLI)
    list(Receiver(second_engine).receive_many(stream, authenticated_gln=DATAHUB, channel=CHANNEL_CLI))

    def stored(eng: Engine) -> dict[str, list[tuple[Any, ...]]]:
        queries = {
            "raw": "SELECT r.sha256, r.size, r.body, r.channel, r.authenticated_party FROM raw_message r"
                   " JOIN message_registry m ON m.raw_id = r.id WHERE m.document_type = 'E66'",
            "messages": "SELECT m.sender_gln, m.message_id, m.document_type, m.business_process, m.sha256,"
                        " m.channel, m.status, m.level, m.reason_code, m.errors IS NULL, m.transactions,"
                        " m.ack_message_id FROM message_registry m WHERE m.document_type = 'E66'",
            "transactions": "SELECT t.sender_gln, t.transaction_id, t.accounting_point, t.status, t.errors IS NULL"
                            " FROM transaction_registry t JOIN message_registry m ON m.id = t.message_pk"
                            " WHERE m.document_type = 'E66'",
            "series": "SELECT s.accounting_point, s.product, s.unit, s.resolution, s.period_start, s.period_end,"
                      " s.version, s.positions, s.\"values\", s.quality, s.transaction_id FROM metering_series s",
            "events": "SELECT m.topic, m.key, m.payload, d.consumer, d.state, d.attempts, d.max_attempts"
                      " FROM outbox_message m JOIN outbox_delivery d ON d.message_pk = m.id"
                      " WHERE m.topic = 'metering.received'",
        }
        with eng.connect() as c:
            return {name: sorted((tuple(_plain(v) for v in row) for row in c.execute(text(sql))), key=repr)
                    for name, sql in queries.items()}

    plain, bulk = stored(engine), stored(second_engine)
    assert bulk == plain
    assert len(plain["series"]) == len(plain["messages"]) == len(stream)


def _plain(value: Any) -> Any:
    """A stored value as comparable across backends and drivers: bytes for binary, text for JSON, UTC instants."""
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value[:1] in "{[":
        return json.dumps(json.loads(value), sort_keys=True)
    return value
