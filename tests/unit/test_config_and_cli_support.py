"""Settings are checked when they are read; the CLI's shared pieces (schema head without Alembic, one-line log
records, days without a sales agreement)."""

from __future__ import annotations

import itertools
import logging
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.cli_support import OneLineFormatter
from gateway.config import ConfigError, check_public_url, database_url_problem, load_settings, safe_database_url
from gateway.rating.core import Agreement
from gateway.rating.service import _uncovered
from gateway.store import revisions


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GATEWAY_CONFIG", "GATEWAY_DATABASE_URL", "GATEWAY_MAX_MESSAGE_BYTES", "GATEWAY_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)


def test_the_example_configuration_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).resolve().parents[2] / "gateway.example.toml"
    settings = load_settings(example)
    assert settings.config_path == str(example) and settings.max_message_bytes == 52428800
    assert settings.public_url is None and settings.outbox.lease == timedelta(seconds=120)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[gateway]\nmax_message_bytes = 0\n", "[gateway] max_message_bytes must be positive, got 0"),
        ("[gateway]\nmax_message_bytes = 1.5\n", "must be a whole number, got 1.5"),
        ("[gateway]\nmax_message_bytes = true\n", "must be a whole number, got True"),
        ("[outbox]\nlease_seconds = -1\n", "[outbox] lease_seconds must be positive, got -1"),
        ("[outbox]\nmax_attempts = 0\n", "[outbox] max_attempts must be positive"),
        ("[outbox]\nretention_days = -3\n", "[outbox] retention_days must be zero or more"),
        ("[gateway]\npublic_url = \"ftp://x\"\n", "[gateway] public_url must be an http:// or https:// URL"),
        ("[gateway]\npublic_url = \"https://gw.example/?a=1\"\n", "no query"),
        ("[gateway]\npublic_url = \"https://gw.example:99999\"\n", "invalid port"),
        ("[gateway]\ndatabase_url = 5\n", "database_url must be a string"),
        ("gateway = 1\n", "[gateway] and [outbox] must be tables"),
        ("[gateway\n", "is not valid TOML"),
    ],
)
def test_a_bad_value_in_the_file_is_named(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "g.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert message in str(error.value)


def test_the_environment_wins_and_is_checked_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "g.toml"
    path.write_text('[gateway]\nmax_message_bytes = 1000\npublic_url = "https://a.example/"\n')
    monkeypatch.setenv("GATEWAY_MAX_MESSAGE_BYTES", "2000")
    monkeypatch.setenv("GATEWAY_PUBLIC_URL", "https://b.example:8443/gw/")
    settings = load_settings(path)
    assert settings.max_message_bytes == 2000 and settings.public_url == "https://b.example:8443/gw"
    monkeypatch.setenv("GATEWAY_MAX_MESSAGE_BYTES", "-1")
    with pytest.raises(ConfigError, match="GATEWAY_MAX_MESSAGE_BYTES must be positive, got '-1'"):
        load_settings(path)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("sqlite:///var/gateway.db", None),
        ("sqlite://", None),
        ("postgresql+psycopg://u:p@h:5432/d", None),
        ("postgres://u:p@h/d", "write the URL as postgresql+psycopg://u:***@h/d (not postgres://)"),
        ("postgresql+psycopg2://u@h/d", "(not postgresql+psycopg2://)"),
        ("postgresql+psycopg://u@h", "names no database"),
        ("mysql://u@h/d", "mysql databases are not supported"),
        ("mssql+pyodbc://u@h/d", "mssql databases are not supported"),
        ("sqlite+aiosqlite:///x", "use sqlite:///PATH"),
        ("var/gateway.db", "is not a database URL"),
        ("", "is not a database URL"),
    ],
)
def test_database_url_problems_say_what_to_write(url: str, problem: str | None) -> None:
    found = database_url_problem(url)
    assert (found is None) if problem is None else (found is not None and problem in found), found
    assert "p@" not in (found or "")


def test_passwords_stay_out_of_messages() -> None:
    assert safe_database_url("postgresql+psycopg://u:hunter2@h/d") == "postgresql+psycopg://u:***@h/d"
    assert "hunter2" not in safe_database_url("not a url://u:hunter2@h")
    assert check_public_url(" https://gw.example.fi/ ") == "https://gw.example.fi"


def test_the_schema_head_without_alembic_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from gateway.store.db import make_engine
    from gateway.store.migrate import alembic_config

    engine = make_engine("sqlite://")
    script = ScriptDirectory.from_config(alembic_config(engine))
    assert revisions.head_revision() == script.get_current_head()
    assert revisions.known_revisions() == {r.revision for r in script.walk_revisions()}


def test_several_heads_are_reported(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (tmp_path / "b.py").write_text('revision: str = "b"\ndown_revision: str | None = "a"\n')
    (tmp_path / "c.py").write_text('revision = "c"\ndown_revision = "a"\n')
    assert revisions.head_revisions(tmp_path) == {"b", "c"}
    with pytest.raises(revisions.RevisionFilesError, match="2 heads"):
        revisions.head_revision(tmp_path)
    (tmp_path / "m.py").write_text('revision = "m"\ndown_revision = ("b", "c")\n')
    assert revisions.head_revision(tmp_path) == "m"


def test_log_records_are_single_lines_unless_verbose() -> None:
    try:
        raise ValueError("bad thing\nwith a second line")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed on %s", ("f.xml",), exc_info=True)
        import sys

        record.exc_info = sys.exc_info()
    short = OneLineFormatter("%(name)s: %(message)s", tracebacks=False).format(record)
    assert short == "x: failed on f.xml (ValueError: bad thing with a second line)"
    full = OneLineFormatter("%(name)s: %(message)s", tracebacks=True).format(record)
    assert "Traceback" in full and full.count("\n") > 2


days = st.dates(min_value=date(2025, 12, 1), max_value=date(2026, 3, 1))


@given(first=days, length=st.integers(1, 60),
       agreements=st.lists(st.tuples(days, st.one_of(st.none(), st.integers(1, 40))), max_size=4))
def test_days_without_a_sales_agreement_are_exactly_the_uncovered_days(
    first: date, length: int, agreements: list[tuple[date, int | None]]
) -> None:
    end = first + timedelta(days=length)
    covering = [Agreement("EM", start, None if n is None else start + timedelta(days=n)) for start, n in agreements]
    gaps = _uncovered(first, end, covering)
    in_gap = {first + timedelta(days=i) for i in range(length)
              if any(a <= first + timedelta(days=i) < b for a, b in gaps)}
    covered = {first + timedelta(days=i) for i in range(length)
               if any(a.start <= first + timedelta(days=i) and (a.end is None or first + timedelta(days=i) < a.end)
                      for a in covering)}
    assert in_gap == {first + timedelta(days=i) for i in range(length)} - covered
    assert all(a < b for a, b in gaps) and all(b1 < a2 for (_, b1), (a2, _) in itertools.pairwise(gaps))
