"""The simulator's queue semantics and fault injection, without HTTP (fast, property-based)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.datahub_sim import DatahubSimulator, FaultInjector, FaultRule, SimulatorFault, parse_fault_rule
from gateway.datahub_sim.simulator import DEFAULT_DOMAINS, document_type_of
from mappings.samples import DATAHUB_GLN, OUR_SUPPLIER_GLN, e58_message, e66_message, gsrn

DOMAINS = ("BB01", "BB02", "BB03", "BB04", "BB05", "BB06")
SIM = DatahubSimulator()
PAYLOAD = e58_message(gsrn(9), datetime(2026, 3, 1, tzinfo=UTC))


@settings(max_examples=60, deadline=None)
@given(
    domains=st.lists(st.sampled_from(DOMAINS), max_size=12),
    wanted=st.sets(st.sampled_from(DOMAINS), max_size=3),
)
def test_peek_dequeue_drains_the_wanted_domains_in_arrival_order_and_leaves_the_rest(domains, wanted):
    sim = DatahubSimulator(registry=SIM.registry)
    queued = [sim.enqueue(OUR_SUPPLIER_GLN, PAYLOAD, domain=domain) for domain in domains]
    drained = []
    while (message := sim.peek(OUR_SUPPLIER_GLN, sorted(wanted))) is not None:
        assert sim.peek(OUR_SUPPLIER_GLN, sorted(wanted)) == message  # peeking twice changes nothing
        drained.append(sim.dequeue(OUR_SUPPLIER_GLN, message.ref))
    expected = [m for m in queued if not wanted or m.domain in wanted]
    assert [m.ref for m in drained] == [m.ref for m in expected]
    assert [m.ref for m in sim.queue(OUR_SUPPLIER_GLN)] == [m.ref for m in queued if m not in expected]


def test_duplicate_delivery_queues_a_copy_right_behind_the_original():
    sim = DatahubSimulator(registry=SIM.registry)
    first = sim.enqueue(OUR_SUPPLIER_GLN, PAYLOAD)
    second = sim.enqueue(OUR_SUPPLIER_GLN, PAYLOAD)
    assert sim.peek(OUR_SUPPLIER_GLN, duplicate=True) == first
    copy = sim.queue(OUR_SUPPLIER_GLN)[1]
    assert (copy.duplicate_of, copy.payload) == (first.ref, first.payload)
    assert copy.ref not in (first.ref, second.ref)
    assert [m.ref for m in sim.queue(OUR_SUPPLIER_GLN)] == [first.ref, copy.ref, second.ref]


def test_metering_data_has_a_queue_of_its_own_and_the_mapping_is_replaceable():
    e66 = e66_message(DATAHUB_GLN, OUR_SUPPLIER_GLN, [gsrn(1)], date(2026, 10, 25))
    assert document_type_of(etree.fromstring(e66)) == "E66"
    assert SIM.enqueue(OUR_SUPPLIER_GLN, e66).domain == "BB02"
    assert DEFAULT_DOMAINS["E58"] != DEFAULT_DOMAINS["E66"]
    custom = DatahubSimulator(registry=SIM.registry, domains={"E66": "BB05"})
    assert custom.enqueue(OUR_SUPPLIER_GLN, e66).domain == "BB05"


def test_a_schema_invalid_scenario_file_is_refused(tmp_path):
    (tmp_path / "bad.xml").write_bytes(PAYLOAD.replace(b"<hdr:DocumentType>E58<", b"<hdr:DocumentType>EEEE<"))
    with pytest.raises(SimulatorFault) as refused:
        DatahubSimulator(registry=SIM.registry).load_scenario(tmp_path)
    assert refused.value.error_code == "SIM.SCHEMA_INVALID"


def test_fault_rules_fire_on_their_call_numbers_per_operation():
    injector = FaultInjector([parse_fault_rule("peekMessage:http_5xx:calls=2,3")])
    fired = [injector.next_call("peekMessage") for _ in range(4)]
    assert fired == [frozenset(), {"http_5xx"}, {"http_5xx"}, frozenset()]
    assert injector.next_call("dequeueMessage") == frozenset()
    assert (injector.calls("peekMessage"), injector.fired("peekMessage", "http_5xx")) == (4, 2)


@given(seed=st.integers(min_value=0, max_value=2**32))
@settings(max_examples=30)
def test_probabilistic_faults_are_deterministic_for_a_seed(seed):
    rules = [parse_fault_rule("sendMessage:timeout:p=0.3"), parse_fault_rule("sendMessage:reject:p=0.5")]

    def run() -> list[frozenset[str]]:
        injector = FaultInjector(rules, seed=seed)
        return [injector.next_call("sendMessage") for _ in range(20)]

    assert run() == run()


def test_a_rule_without_a_condition_fires_always():
    injector = FaultInjector([parse_fault_rule("dequeueMessage:dequeue_fault")])
    assert all(injector.next_call("dequeueMessage") == {"dequeue_fault"} for _ in range(3))


@pytest.mark.parametrize(
    "spec",
    [
        "peekMessage",
        "peekMessage:explode",
        "sendMessage:duplicate",  # duplicates are a peek fault
        "peekMessage:dequeue_fault",
        "peekMessage:http_5xx:p=2",
        "peekMessage:http_5xx:calls=0",
        "peekMessage:http_5xx:every=2",
        "fetchMessage:http_5xx",
    ],
)
def test_nonsense_fault_specs_are_refused(spec):
    with pytest.raises(ValueError):
        parse_fault_rule(spec)


def test_rule_needs_a_condition():
    with pytest.raises(ValueError):
        FaultRule("peekMessage", "http_5xx")
