"""The validation helper's verdicts are exactly what validating in this process gives, or no verdict at all."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.xml.hardened import XmlInputError, parse_xml
from gateway.xml.schemas import SchemaIssue, UnknownSchemaError, default_registry
from gateway.xml.validate_ahead import CHUNK, PIPE_BYTES, Answer, ValidationHelper, Verdict, Verdicts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MAX_BYTES = 200_000


def _in_process(data: bytes) -> list[SchemaIssue] | None:
    try:
        tree = parse_xml(data, max_bytes=MAX_BYTES)
        return default_registry().validate(tree)
    except (XmlInputError, UnknownSchemaError):
        return None


@pytest.fixture(autouse=True)
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wait for the batch the helper works on however long it takes, so that which verdicts come is certain."""
    monkeypatch.setattr("gateway.xml.validate_ahead.PATIENCE_S", 60.0)


@pytest.fixture
def helper() -> Iterator[ValidationHelper]:
    h = ValidationHelper(MAX_BYTES, archive_level=1)
    h.wait_ready()  # a helper still starting gives no verdicts: the caller validates meanwhile
    yield h
    h.close()


def _corpus() -> list[bytes]:
    """Valid and schema-invalid Datahub documents side by side, hostile input, an unknown schema, one too big."""
    datahub = sorted((FIXTURES / "datahub").glob("*.xml"))
    hostile = sorted((FIXTURES / "hostile").glob("*.xml"))
    return [p.read_bytes() for p in (*datahub, *hostile)] + [
        b"<not-datahub/>", b"<a>" + b" " * MAX_BYTES + b"</a>"]


def test_every_verdict_equals_validating_in_this_process(helper: ValidationHelper) -> None:
    corpus = _corpus()
    verdicts = helper.ahead(corpus, lambda data: True)
    got, archived = [], []
    for i in range(len(corpus)):
        got.append(verdicts.issues(i))
        archived.append(verdicts.archived(i))
    assert got == [_in_process(data) for data in corpus]
    assert archived == [zlib.compress(data, 1) if issues == [] else None
                        for data, issues in zip(corpus, got, strict=True)], "valid ones compressed for the archive"
    invalid = [issues for issues in got if issues]
    assert len(invalid) >= 15, "the schema-invalid fixtures came back with their issues"
    assert all(issue.line > 0 for issues in invalid for issue in issues), "issues keep their positions"
    assert got[-1] is None and got[-2] is None, "too big and unknown schema: judged by the caller"


def test_documents_not_wanted_get_no_verdict(helper: ValidationHelper) -> None:
    corpus = _corpus()
    verdicts = helper.ahead(corpus, lambda data: len(data) < 10_000)
    for i, data in enumerate(corpus):
        if len(data) >= 10_000:
            assert verdicts.issues(i) is None


def _stream(n: int) -> list[bytes]:
    return [(FIXTURES / "datahub" / "e66-winter-day-pt15m.xml").read_bytes()] * n


def _receive(verdicts: Verdicts, stream: list[bytes]) -> list[Verdict]:
    """As the receiving process reads a stream: where the helper has no verdict, it validates itself; and each
    document takes it longer than validating alone (mapping, storing: here a sleep)."""
    answers = []
    for i, data in enumerate(stream):
        answers.append(verdicts.issues(i))
        if answers[-1] is None:
            _in_process(data)
        time.sleep(0.001)
    verdicts.close()
    return answers


def test_a_helper_that_dies_leaves_the_caller_to_validate_and_the_next_stream_starts_a_new_one(
    helper: ValidationHelper,
) -> None:
    stream = _stream(2 * PIPE_BYTES // 5_000)  # more than the pipe holds ahead of the first answer
    verdicts = helper.ahead(stream, lambda data: True)
    assert verdicts.issues(0) == []
    os.kill(helper.pid or 0, signal.SIGKILL)
    answers = _receive(verdicts, stream)
    assert answers[-1] is None, "no verdict once the helper is gone"
    first_none = answers.index(None)
    assert answers[:first_none] == [[]] * first_none and set(map(str, answers[first_none:])) == {"None"}
    helper.wait_ready()
    again = helper.ahead(stream, lambda data: True)
    assert [again.issues(i) for i in range(len(stream))] == [[]] * len(stream)


def test_a_stream_left_half_read_does_not_confuse_the_next(helper: ValidationHelper) -> None:
    valid = _stream(4 * CHUNK)
    invalid = [(FIXTURES / "datahub" / "invalid-schema-e66-negative-qty.xml").read_bytes()] * (10 * CHUNK)
    first = helper.ahead(valid, lambda data: True)
    assert first.issues(0) == []
    first.close()  # abandoned with batches still under way
    answers = _receive(helper.ahead(invalid, lambda data: True), invalid)
    expected = _in_process(invalid[0])
    # Until the helper is through the first stream's batches, the caller validates; then verdicts come again.
    assert expected and {str(a) for a in answers} <= {str(expected), "None"} and answers[-1] == expected


def test_one_stream_at_a_time_uses_the_helper(helper: ValidationHelper) -> None:
    stream = _stream(10 * CHUNK)
    first = helper.ahead(stream, lambda data: True)
    meanwhile = helper.ahead(stream, lambda data: True)
    assert meanwhile.issues(0) is None, "validated in-process while the helper is busy"
    assert first.issues(0) == []
    first.close()
    assert _receive(helper.ahead(stream, lambda data: True), stream)[-1] == []


def test_a_helper_still_starting_is_not_waited_for() -> None:
    helper = ValidationHelper(MAX_BYTES)
    try:
        stream = _stream(2)
        verdicts = helper.ahead(stream, lambda data: True)
        assert verdicts.issues(0) is None, "no verdict yet: the caller validates instead of waiting"
        verdicts.close()
        helper.wait_ready()
        assert helper.ahead(stream, lambda data: True).issues(0) == []
    finally:
        helper.close()


class _Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_stalled_helper_is_not_waited_for_and_one_silent_too_long_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No wall-clock assertion: how long the stream waits is read from the waits it asks for, and the helper's
    silence is made long by moving its clock."""
    clock = _Clock()
    helper = ValidationHelper(MAX_BYTES, archive_level=1, clock=clock)
    helper.wait_ready()
    waits: list[float] = []
    receive = helper._receive

    def recorded(wait: float = 0.0) -> tuple[int, list[Answer]] | None:
        waits.append(wait)
        return receive(wait)

    monkeypatch.setattr(helper, "_receive", recorded)
    stream = _stream(10 * CHUNK)  # more than the pipe holds: later batches are sent while the helper is stopped
    verdicts = helper.ahead(stream, lambda data: True)
    assert verdicts.issues(0) == [], "the first batch is answered (the fixture's patience waits for it)"
    stalled = helper.pid or 0
    os.kill(stalled, signal.SIGSTOP)  # as if the machine gave it no time
    try:
        monkeypatch.setattr("gateway.xml.validate_ahead.PATIENCE_S", 0.05)
        waits.clear()
        answers = [verdicts.issues(i) for i in range(1, len(stream))]
        assert None in answers, "validated here once the helper gave no answer"
        waited = [w for w in waits if w > 0]
        assert waited and all(w <= 0.05 for w in waited), "a little per wait"
        assert len(waited) <= len(verdicts._batches), "at most once per batch, no longer"
        verdicts.close()
        clock.now += 61  # silent for longer than ANSWER_TIMEOUT_S
        assert helper.ahead(stream, lambda data: True).issues(0) is None
        assert helper.pid is None, "given up on and ended"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stalled, signal.SIGCONT)
    helper.wait_ready()
    assert helper.ahead(stream, lambda data: True).issues(0) == [], "a new helper answers"
    helper.close()
