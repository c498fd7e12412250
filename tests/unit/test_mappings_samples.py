"""The sample generator used by the demo and the benchmark: deterministic, schema-valid, event-valid."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

from lxml import etree

from gateway.domain.periods import local_day_bounds
from gateway.validation import check_message, known_in
from mappings import e58, e66, f04, samples
from mappings.registry import SCHEMA_ROOT, mapping_for
from mappings.samples import DATAHUB_GLN, OUR_DSO_GLN, gsrn


@cache
def schema(xsd: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_ROOT / xsd)))


def test_sample_parties_and_points_have_valid_check_digits() -> None:
    from gateway.domain.identifiers import is_valid_gln, is_valid_gsrn

    for gln in (
        samples.DATAHUB_GLN,
        samples.OUR_SUPPLIER_GLN,
        samples.OUR_DSO_GLN,
        samples.OTHER_SUPPLIER_GLN,
        samples.SERVICE_PROVIDER_GLN,
    ):
        assert is_valid_gln(gln)
    assert all(is_valid_gsrn(gsrn(n)) for n in (1, 2, 999, 3_700_000))


def test_e66_messages_are_deterministic_valid_and_chunked() -> None:
    points = [gsrn(i) for i in range(1, 8)]
    chunks = list(samples.e66_messages(OUR_DSO_GLN, DATAHUB_GLN, points, date(2026, 10, 25), n_series_per_message=3))
    assert len(chunks) == 3
    assert chunks == list(
        samples.e66_messages(OUR_DSO_GLN, DATAHUB_GLN, points, date(2026, 10, 25), n_series_per_message=3)
    )
    seen = []
    for xml in chunks:
        root = etree.fromstring(xml)
        assert schema(e66.SPEC.xsd).validate(root)
        message = e66.parse(root)
        assert check_message(message, known_in(set(points))).ok
        seen += [t.accounting_point for t in message.transactions]
        assert all(len(t) == 100 for t in message.transactions)
    assert seen == points


def test_seed_changes_values_but_not_shape() -> None:
    a = samples.e66_document(OUR_DSO_GLN, DATAHUB_GLN, [gsrn(1)], date(2026, 1, 15), seed=1).transactions[0]
    b = samples.e66_document(OUR_DSO_GLN, DATAHUB_GLN, [gsrn(1)], date(2026, 1, 15), seed=2).transactions[0]
    assert a.quantities != b.quantities and a.sequences == b.sequences


def test_e58_and_f04_samples_validate() -> None:
    start = local_day_bounds(date(2026, 2, 1))[0]
    for module, xml in ((e58, samples.e58_message(gsrn(5), start)), (f04, samples.f04_message(gsrn(5), start))):
        root = etree.fromstring(xml)
        assert schema(module.SPEC.xsd).validate(root), schema(module.SPEC.xsd).error_log
        message = module.parse(root)
        assert check_message(message).ok
    assert samples.f04_document(gsrn(5), start).header.creation == start - timedelta(days=14)


def test_f01_f06_and_e58_batch_samples_validate() -> None:
    start = local_day_bounds(date(2026, 2, 1))[0]
    messages = [
        samples.f01_message(start),
        samples.f06_message(gsrn(5), start),
        *samples.e58_messages([gsrn(6), gsrn(7)], start),
    ]
    for xml in messages:
        root = etree.fromstring(xml)
        mapping = mapping_for(root)
        assert schema(mapping.spec.xsd).validate(root), schema(mapping.spec.xsd).error_log
        assert check_message(mapping.parse(root)).ok
    assert len({etree.fromstring(x).findtext(".//{*}Header/{*}Identification") for x in messages}) == 4
