"""The market parties every pipeline test uses (the same GLNs as tests/fixtures/datahub/README.md)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from gateway.parties import add_party
from mappings import samples

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "datahub"
HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"


def register_parties(engine: Engine) -> None:
    add_party(engine, samples.DATAHUB_GLN, roles=["DH"], name="Fingrid Datahub", token="datahub-token")
    add_party(engine, samples.OUR_SUPPLIER_GLN, roles=["DDQ"], name="Group retail", own=True)
    add_party(engine, samples.OUR_DSO_GLN, roles=["DDM"], name="Group distribution", own=True, token="dso-token")
    add_party(engine, samples.OTHER_SUPPLIER_GLN, roles=["DDQ"], name="Other retailer", token="other-token")
    add_party(engine, samples.SERVICE_PROVIDER_GLN, roles=["ESC"], name="Metering service provider",
              token="sp-token", acts_for=[samples.OUR_DSO_GLN])


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()
