"""The topic declaration in gateway/events.py against the code: every topic emitted anywhere has a consumer,
every consumer's topic is emitted, and the bootstrap serves exactly the declared consumers."""

from __future__ import annotations

import ast
import importlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import outbox
from gateway.bootstrap import build_registry
from gateway.config import Settings
from gateway.events import CONSUMERS, TOPICS, Topic, subscriptions
from gateway.store.db import make_engine

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"
_ENQUEUE = (outbox.enqueue, outbox.enqueue_many, outbox.enqueue_select)
_EMIT = {"emit", "emit_many", "emit_select"}


def _topic_argument(call: ast.Call, module: Any) -> ast.expr | None:
    """The topic expression of a call to outbox's enqueue/enqueue_many or to a Topic's emit/emit_many."""
    dotted = call.func
    while isinstance(dotted, ast.Attribute):
        dotted = dotted.value
    last = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    if not isinstance(dotted, ast.Name) or last not in _EMIT | {"enqueue", "enqueue_many", "enqueue_select"}:
        return None  # only plain (dotted) names are looked up: nothing is called while scanning
    try:
        function = eval(ast.unparse(call.func), vars(module))
    except (NameError, AttributeError):
        return None  # a method of some object (the simulator's queue has an `enqueue` too)
    if isinstance(call.func, ast.Attribute) and call.func.attr in _EMIT:
        return call.func.value if isinstance(getattr(function, "__self__", None), Topic) else None
    if function in _ENQUEUE:
        keyword = next((k.value for k in call.keywords if k.arg == "topic"), None)
        return keyword if keyword is not None else call.args[1]
    return None


def emitted_topics() -> dict[str, list[str]]:
    """topic → the places emitting it, resolved from every enqueue/emit call in the gateway package."""
    found: dict[str, list[str]] = {}
    for path in sorted(GATEWAY.rglob("*.py")):
        if path.name == "events.py" or "migrations" in path.parts:
            continue  # the declaration itself; migrations write no messages
        source = path.read_text(encoding="utf-8")
        if "enqueue" not in source and "emit" not in source:
            continue
        module = importlib.import_module(".".join(path.relative_to(GATEWAY.parent).with_suffix("").parts))
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Call) or (expr := _topic_argument(node, module)) is None:
                continue
            place = f"{path.relative_to(GATEWAY.parent)}:{node.lineno}"
            try:
                value = eval(ast.unparse(expr), vars(module))  # a module-level name: the topic or its string
            except NameError:
                pytest.fail(f"{place}: the topic must be a module-level constant, not {ast.unparse(expr)!r}")
            name = value.name if isinstance(value, Topic) else value
            assert isinstance(name, str), f"{place}: {ast.unparse(expr)} is not a topic"
            found.setdefault(name, []).append(place)
    return found


def test_every_emitted_topic_is_declared_and_has_a_consumer() -> None:
    emitted = emitted_topics()
    consumed = {c.topic.name for c in CONSUMERS}
    undeclared = {t: places for t, places in emitted.items() if t not in {d.name for d in TOPICS}}
    assert not undeclared, f"emitted but not declared in gateway/events.py: {undeclared}"
    assert not {t: p for t, p in emitted.items() if t not in consumed}, "emitted with no consumer"


def test_every_consumers_topic_is_emitted_and_every_declared_topic_used() -> None:
    emitted = emitted_topics()
    assert {c.topic.name for c in CONSUMERS} <= set(emitted), "a consumer waits for a topic nothing emits"
    assert {t.name for t in TOPICS} == set(emitted), "declared topics and emitted topics differ"
    assert len(emitted) >= 7 and sum(len(p) for p in emitted.values()) >= 10, "the scan finds the call sites"


def test_the_topics_nobody_consumes_are_not_emitted() -> None:
    emitted = emitted_topics()
    assert "masterdata.customer" not in emitted and "outbound.acknowledged" not in emitted


def test_consumer_and_topic_names_are_unique() -> None:
    assert not [n for n, k in Counter(c.name for c in CONSUMERS).items() if k > 1]
    assert not [n for n, k in Counter(t.name for t in TOPICS).items() if k > 1]
    assert len(subscriptions()) == len(CONSUMERS)


def test_the_bootstrap_serves_exactly_the_declared_consumers() -> None:
    engine = make_engine("sqlite://")
    with_both = Settings(database_url="sqlite://", raw={"datahub": {"endpoint": "http://127.0.0.1:9/"},
                                                        "payment_provider": {"base_url": "http://127.0.0.1:9/"}})
    assert build_registry(with_both, engine).subscriptions() == subscriptions()
    without = build_registry(Settings(database_url="sqlite://"), engine).subscriptions()
    assert set(subscriptions()) - set(without) == {
        "gateway.datahub_send", "payments.provider-jobs", "payments.provider-credit-notes",
        "payments.provider-requests"}, "only the sends need an endpoint"
    engine.dispose()


def test_payloads_are_checked_against_their_type() -> None:
    from sqlalchemy.orm import Session

    from gateway.events import DATAHUB_SEND

    with Session() as session, pytest.raises(TypeError, match=r"missing \['message_id'\], unknown \['id'\]"):
        DATAHUB_SEND.emit(session, {"id": "x"}, key=None)  # type: ignore[typeddict-unknown-key]
