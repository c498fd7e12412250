"""E66 mapping: what the parser reads from real-format messages, what the builder writes, and a
property: any valid E66 round-trips domain → XML (XSD-valid) → domain unchanged."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.domain.message import DatahubMessage, MessageHeader, ProcessContext
from gateway.domain.metering import MeteringTransaction
from gateway.domain.periods import expected_positions, local_day_bounds, local_midnight_utc
from gateway.validation import check_metering_transaction
from gateway.xml.schemas import default_registry
from mappings import e66, samples
from mappings.registry import SCHEMA_ROOT
from mappings.samples import DATAHUB_GLN, OUR_SUPPLIER_GLN, SERVICE_PROVIDER_GLN, gsrn

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "datahub"


@cache
def e66_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_ROOT / e66.SPEC.xsd)))


def parse_fixture(name: str) -> DatahubMessage[MeteringTransaction]:
    return e66.parse(etree.parse(str(FIXTURES / name)).getroot())


class TestParse:
    def test_dst_spring_day_has_92_quarters(self) -> None:
        message = parse_fixture("e66-dst-spring-2026-03-29.xml")
        for txn in message.transactions:
            assert len(txn) == 92
            assert txn.start == datetime(2026, 3, 28, 22, tzinfo=UTC)
            assert txn.end == datetime(2026, 3, 29, 21, tzinfo=UTC)

    def test_dst_autumn_day_has_100_quarters(self) -> None:
        (txn, _) = parse_fixture("e66-dst-autumn-2026-10-25.xml").transactions
        assert len(txn) == 100
        assert (txn.start, txn.end) == (datetime(2026, 10, 24, 21, tzinfo=UTC), datetime(2026, 10, 25, 22, tzinfo=UTC))

    def test_header_and_context(self) -> None:
        message = parse_fixture("e66-datahub-style.xml")
        h = message.header
        assert h.message_id == "8a3c1d52-1f0e-4c7a-9a8e-2d4b6f0e9c11"
        assert h.document_type == "E66"
        assert h.creation == datetime(2026, 1, 16, 1, 12, 45, 120000, tzinfo=UTC)  # +02:00 → UTC
        assert (h.physical_sender, h.juridical_sender) == (DATAHUB_GLN, DATAHUB_GLN)
        assert (h.juridical_recipient, h.physical_recipient) == (OUR_SUPPLIER_GLN, SERVICE_PROVIDER_GLN)
        assert h.sender_routing_information == "queue-BB02"
        assert message.context == ProcessContext("DH-211", "DDQ", "23")

    def test_transaction_fields_in_the_datahub_style_message(self) -> None:
        (txn,) = parse_fixture("e66-datahub-style.xml").transactions
        assert txn.transaction_id == "5d0b7f7e-3c2a-4f51-8d7e-0c9a1b2e3f40"
        assert txn.series_identification == "DSO-SERIES-000003"
        assert txn.invoice_relevant is True
        assert (txn.product, txn.unit, txn.resolution) == ("8716867000030", "kWh", "PT1H")
        assert txn.accounting_point == gsrn(3)
        assert txn.sequences == tuple(range(1, 25))
        assert all(isinstance(q, Decimal) for q in txn.quantities)
        assert txn.qualities[4] == "Z02" and txn.qualities.count(None) == 23

    def test_missing_and_estimated_values(self) -> None:
        (txn,) = parse_fixture("e66-missing-and-estimated.xml").transactions
        missing = [s for s, m in zip(txn.sequences, txn.missing, strict=True) if m]
        estimated = [s for s, q in zip(txn.sequences, txn.qualities, strict=True) if q == "99"]
        assert missing == [60, 61, 62, 63]
        assert estimated == [20, 21, 22, 23, 24]
        assert all(txn.quantities[s - 1] is None for s in missing)
        micro = txn.micro_units()
        assert [micro[s - 1] for s in missing] == [0, 0, 0, 0]
        assert txn.present_mask().count(False) == 4

    def test_correction_and_status_change_keep_the_period(self) -> None:
        (original,) = parse_fixture("e66-winter-day-pt15m.xml").transactions
        (corrected,) = parse_fixture("e66-correction-z01.xml").transactions
        (status,) = parse_fixture("e66-status-only-change.xml").transactions
        assert (original.start, original.end) == (corrected.start, corrected.end) == (status.start, status.end)
        changed = [
            s for s, a, b in zip(original.sequences, original.quantities, corrected.quantities, strict=True) if a != b
        ]
        assert changed == [40, 41, 42, 43]
        assert all(corrected.qualities[s - 1] == "Z01" for s in changed)
        assert status.quantities == original.quantities and status.qualities != original.qualities

    def test_bundle_of_50(self) -> None:
        message = parse_fixture("e66-bundle-50.xml")
        assert [t.accounting_point for t in message.transactions] == [gsrn(i) for i in range(1, 51)]
        assert len({t.transaction_id for t in message.transactions}) == 50

    def test_the_mapping_precomputes_exact_micro_units_only_for_fully_measured_series(self) -> None:
        for name in ("e66-bundle-50.xml", "e66-missing-and-estimated.xml"):
            for txn in parse_fixture(name).transactions:
                fully_measured = None not in txn.quantities and set(txn.qualities) == {None}
                assert (txn.micro is not None) == fully_measured
                if txn.micro is not None:
                    assert txn.micro.tolist() == list(txn.micro_units())


class TestMicroUnits:
    def test_exact_integers(self) -> None:
        start, end = local_day_bounds(date(2026, 1, 15))
        txn = MeteringTransaction(
            "t",
            gsrn(1),
            "F01",
            "8716867000030",
            "kWh",
            "P1D",
            start,
            end,
            sequences=(1,),
            quantities=(Decimal("99999999.999999"),),
            qualities=(None,),
            missing=(False,),
        )
        assert txn.micro_units() == (99_999_999_999_999,)
        for text, micro in [("0.000001", 1), ("1.5", 1_500_000), ("0", 0), ("12.345600", 12_345_600)]:
            assert MeteringTransaction(
                "t",
                gsrn(1),
                "F01",
                "8716867000030",
                "kWh",
                "P1D",
                start,
                end,
                (1,),
                (Decimal(text),),
                (None,),
                (False,),
            ).micro_units() == (micro,)

    def test_more_than_six_fraction_digits_are_refused(self) -> None:
        start, end = local_day_bounds(date(2026, 1, 15))
        txn = MeteringTransaction(
            "t",
            gsrn(1),
            "F01",
            "8716867000030",
            "kWh",
            "P1D",
            start,
            end,
            (1,),
            (Decimal("0.0000001"),),
            (None,),
            (False,),
        )
        with pytest.raises(ValueError, match="6 fraction digits"):
            txn.micro_units()


class TestBuild:
    def test_output_is_utf8_with_declaration_and_no_schema_location(self) -> None:
        xml = e66.build(parse_fixture("e66-datahub-style.xml"))
        assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
        assert b"schemaLocation" not in xml and b"XMLSchema-instance" not in xml
        assert b"<hdr:Creation>2026-01-16T01:12:45.120000Z</hdr:Creation>" in xml
        assert e66_schema().validate(etree.fromstring(xml))

    def test_qq_together_with_qm_is_written_as_is_and_fails_the_schema(self) -> None:
        message = parse_fixture("e66-winter-day-pt15m.xml")
        (txn,) = message.transactions
        broken = MeteringTransaction(
            **{
                **{f: getattr(txn, f) for f in txn.__dataclass_fields__},
                "quantities": (None, *txn.quantities[1:]),
                "qualities": ("99", *txn.qualities[1:]),
                "missing": (True, *txn.missing[1:]),
            }
        )
        xml = e66.build(DatahubMessage(message.header, message.context, (broken,)))
        assert not e66_schema().validate(etree.fromstring(xml))


# ------------------------------------------------------------------------------- property test


def _last_sunday(year: int, month: int) -> date:
    last = date(year, month, calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - 6) % 7)


DST_DAYS = [d for y in range(2024, 2031) for d in (_last_sunday(y, 3), _last_sunday(y, 10))]
days = st.one_of(st.sampled_from(DST_DAYS), st.dates(min_value=date(2001, 1, 1), max_value=date(2099, 12, 31)))
xml_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=36)
quantities = st.decimals(
    min_value=0, max_value=Decimal("99999999.999999"), places=6, allow_nan=False, allow_infinity=False
) | st.integers(0, 10_000).map(Decimal)
observations = st.one_of(
    st.tuples(quantities, st.sampled_from([None, None, "Z01", "Z02", "99", "Z04", "21", "56"]), st.just(False)),
    st.just((None, None, True)),
)


@st.composite
def periods(draw: st.DrawFn) -> tuple[datetime, datetime, str]:
    resolution = draw(st.sampled_from(["PT15M", "PT1H", "P1D", "P1M", "P1Y"]))
    day = draw(days)
    if resolution in ("PT15M", "PT1H"):
        start, end = local_day_bounds(day)
    elif resolution == "P1D":
        start, end = local_midnight_utc(day), local_midnight_utc(day + timedelta(days=draw(st.integers(1, 40))))
    elif resolution == "P1M":
        months = draw(st.integers(1, 14))
        first = date(day.year, day.month, 1)
        index = first.month - 1 + months
        start, end = local_midnight_utc(first), local_midnight_utc(date(first.year + index // 12, index % 12 + 1, 1))
    else:
        start, end = local_midnight_utc(date(day.year, 1, 1)), local_midnight_utc(date(day.year + 1, 1, 1))
    return start, end, resolution


@st.composite
def transactions(draw: st.DrawFn) -> MeteringTransaction:
    start, end, resolution = draw(periods())
    n = expected_positions(start, end, resolution)
    assert n is not None
    obs = draw(st.lists(observations, min_size=n, max_size=n))
    return MeteringTransaction(
        transaction_id=draw(xml_text),
        accounting_point=gsrn(draw(st.integers(1, 10**14 - 1))),
        metering_point_type=draw(st.sampled_from(["F01", "E18", "E20"])),
        product="8716867000030",
        unit=draw(st.sampled_from(["Wh", "kWh", "MWh", "GWh"])),
        resolution=resolution,
        start=start,
        end=end,
        sequences=tuple(range(1, n + 1)),
        quantities=tuple(o[0] for o in obs),
        qualities=tuple(o[1] for o in obs),
        missing=tuple(o[2] for o in obs),
        series_identification=draw(st.none() | xml_text),
        invoice_relevant=draw(st.none() | st.booleans()),
        grid_area=draw(st.none() | st.just("44Y-000000000013")),
        in_area=draw(st.none() | st.just("44Y-000000000021")),
        out_area=None,
    )


@st.composite
def messages(draw: st.DrawFn) -> DatahubMessage[MeteringTransaction]:
    header = MessageHeader(
        message_id=draw(xml_text),
        document_type="E66",
        creation=draw(
            st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC))
        ),
        physical_sender=DATAHUB_GLN,
        juridical_sender=DATAHUB_GLN,
        juridical_recipient=OUR_SUPPLIER_GLN,
        physical_recipient=draw(st.sampled_from([OUR_SUPPLIER_GLN, SERVICE_PROVIDER_GLN])),
        sender_routing_information=draw(st.none() | xml_text),
    )
    context = ProcessContext("DH-211", draw(st.sampled_from(["DDQ", "DDM", "MDR"])))
    return DatahubMessage(header, context, tuple(draw(st.lists(transactions(), min_size=1, max_size=3))))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(messages())
def test_any_valid_e66_round_trips_through_schema_valid_xml(message: DatahubMessage[MeteringTransaction]) -> None:
    for txn in message.transactions:
        assert check_metering_transaction(txn) == []
    xml = e66.build(message)
    root = etree.fromstring(xml)
    assert e66_schema().validate(root), e66_schema().error_log
    assert e66.parse(root) == message


def test_a_comment_inside_a_value_is_read_as_the_xsd_reads_it() -> None:
    data = e66.build(samples.e66_document(DATAHUB_GLN, OUR_SUPPLIER_GLN, [gsrn(1)], date(2026, 1, 15)))
    start = data.index(b"<elm:QTY>") + len(b"<elm:QTY>")
    value = data[start:data.index(b"</elm:QTY>", start)]
    dot = value.index(b".")
    split = data[:start] + value[:dot] + b"<!-- a note -->" + value[dot:] + data[start + len(value):]
    tree = etree.fromstring(split).getroottree()
    assert default_registry().validate(tree) == []
    (txn,) = e66.parse(tree.getroot()).transactions
    assert txn.quantities[0] == Decimal(value.decode())
