"""The command line as a new user (and a careless operator) meets it: every command against a database that is
not migrated or not there, misspelt URLs, bad option values, and what `gateway --help` costs.

Commands are found in the parser itself, so commands that other modules add later are covered without a change
here (a command that prints "listening" or "started" is a server: it is stopped once it says so).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.cli import build_parser, main
from gateway.cli_support import Command, Database, leaf_commands
from tests.support.pipeline import FIXTURES

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE = "postgresql+psycopg://gateway@127.0.0.1:1/gateway"  # nothing listens on port 1
HEAVY = ("zeep", "aiohttp", "numpy", "sqlalchemy", "lxml", "alembic", "sqlmodel", "pydantic")
STARTED = ("listening on", " started")
GLN, GSRN = "6430000000023", "643000000000000016"


def _env(database_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(PYTHONPATH=str(ROOT), GATEWAY_DATABASE_URL=database_url, GATEWAY_VAR_DIR=str(tmp / "var"),
               GATEWAY_DATAHUB_ENDPOINT="http://127.0.0.1:9/soap/b2b", **extra)
    return env


@dataclass
class Run:
    argv: list[str]
    status: int | None  # None: a server that was stopped after it said it started
    output: str


def run_gateway(argv: Sequence[str], env: dict[str, str], cwd: Path, *, limit: float = 300) -> Run:
    """Run `gateway ARGV` as its own process; a server is stopped (SIGTERM) once it says it listens."""
    log = cwd / f"out-{os.getpid()}-{time.monotonic_ns()}.txt"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", *argv], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + limit
        stopped = False
        while proc.poll() is None:
            text = log.read_text(errors="replace")
            if not stopped and any(word in text for word in STARTED):
                proc.send_signal(signal.SIGTERM)
                stopped = True
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                pytest.fail(f"gateway {' '.join(argv)} neither ended nor said it started: {text[-2000:]}")
            time.sleep(0.05)
    return Run(list(argv), None if stopped else proc.returncode, log.read_text(errors="replace"))


def _value_for(action: argparse.Action, sample: Path) -> str:
    """A value the option's own type accepts, chosen by what the option is called."""
    dest = action.dest.lower()
    if action.choices:
        return str(next(iter(action.choices)))
    by_name = ([GLN] if "gln" in dest or "sender" in dest else [GSRN] if "point" in dest or "gsrn" in dest
               else [str(sample)] if "file" in dest else [])
    for candidate in [*by_name, "2026-03-01", str(sample), "1", GLN, "x"]:
        try:
            if callable(action.type):
                action.type(candidate)
            return candidate
        except (argparse.ArgumentTypeError, TypeError, ValueError):
            continue
    return "x"


def command_lines(sample: Path) -> list[tuple[list[str], Database]]:
    """Every leaf command with its required arguments filled in, and what it needs of the database."""
    lines = []
    for path, parser in leaf_commands(build_parser()):
        argv = list(path)
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if not action.option_strings and action.nargs not in ("?", "*"):
                argv.append(_value_for(action, sample))
            elif action.option_strings and action.required:
                argv += [action.option_strings[-1], _value_for(action, sample)]
            elif "--port" in action.option_strings:
                argv += ["--port", "0"]  # servers listen on any free port
        command = parser.get_default("command")
        lines.append((argv, command.database if isinstance(command, Command) else Database.MIGRATED))
    return lines


def test_the_enumeration_finds_nested_and_lazily_defined_commands() -> None:
    paths = {path for path, _ in leaf_commands(build_parser())}
    assert {("outbox", "status"), ("parties", "load"), ("products", "assign"), ("rate",), ("datahub-sim",),
            ("datahub-pull",), ("demo",)} <= paths
    pull = dict(leaf_commands(build_parser()))[("datahub-pull",)]
    assert any("--once" in a.option_strings for a in pull._actions), "arguments defined lazily are configured"


@pytest.mark.parametrize("state", ["unmigrated", "unreachable"])
def test_every_command_against_an_unusable_database_is_one_clear_line(tmp_path: Path, state: str) -> None:
    sample = tmp_path / "e66.xml"
    sample.write_bytes((FIXTURES / "e66-pt1h-day.xml").read_bytes())

    def attempt(index_and_line: tuple[int, tuple[list[str], Database]]) -> tuple[Run, Database]:
        index, (argv, need) = index_and_line
        cwd = tmp_path / f"c{index}"
        cwd.mkdir()
        url = f"sqlite:///{cwd / 'empty.db'}" if state == "unmigrated" else UNREACHABLE
        return run_gateway(argv, _env(url, cwd), cwd), need

    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(attempt, enumerate(command_lines(sample))))

    problems = []
    for run, need in runs:
        said = run.output
        fix = "gateway migrate" if state == "unmigrated" else "cannot connect to the database"
        if "Traceback" in said or 'File "' in said:
            problems.append(f"{run.argv}: traceback\n{said[-1500:]}")
        elif need is Database.MIGRATED and not (run.status not in (0, None) and fix in said):
            problems.append(f"{run.argv}: status {run.status}, expected one line naming {fix!r}:\n{said[-800:]}")
        elif need is Database.ADVISORY and fix not in said:
            problems.append(f"{run.argv}: no warning naming {fix!r}:\n{said[-800:]}")
        elif need is Database.REACHABLE and state == "unreachable" and not (run.status and fix in said):
            problems.append(f"{run.argv}: status {run.status}:\n{said[-800:]}")
        elif need is Database.MIGRATED and len([ln for ln in said.splitlines() if ln.strip()]) != 1:
            problems.append(f"{run.argv}: more than one line:\n{said[-800:]}")
    assert not problems, "\n\n".join(problems)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgres://gateway@db.example/gateway", "write the URL as postgresql+psycopg://gateway@db.example/gateway"),
        ("postgresql://gateway:secret@db.example/gateway", "postgresql+psycopg://gateway:***@db.example/gateway"),
        ("mysql://root@localhost/gateway", "mysql databases are not supported"),
        ("sqlite+aiosqlite:///x.db", "use sqlite:///PATH"),
        ("gateway.db", "is not a database URL"),
        ("postgresql+psycopg://gateway@127.0.0.1:5432", "names no database"),
        (UNREACHABLE, "cannot connect to the database postgresql+psycopg://gateway@127.0.0.1:1/gateway"),
    ],
)
def test_a_misspelt_database_url_says_what_to_write(url: str, message: str, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    for argv in (["outbox", "status"], ["parties", "list"], ["migrate"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "secret" not in err, err


def test_a_database_that_does_not_exist_is_named(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    server = os.environ.get("GATEWAY_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("GATEWAY_TEST_POSTGRES_URL is not set")
    from sqlalchemy.engine import make_url

    missing = make_url(server).set(database="no_such_gateway_db").render_as_string(hide_password=False)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", missing)
    assert main(["parties", "list"]) == 2
    err = capsys.readouterr().err
    assert 'database "no_such_gateway_db" does not exist' in err and "createdb no_such_gateway_db" in err


def test_a_database_at_an_older_revision_is_told_to_migrate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    assert main(["migrate", "0001_outbox"]) == 0
    capsys.readouterr()
    assert main(["outbox", "status"]) == 2
    err = capsys.readouterr().err
    assert "is at schema revision 0001_outbox, this version needs" in err and "run `gateway migrate`" in err


def test_migrate_to_an_unknown_revision_lists_the_known_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'g.db'}")
    assert main(["migrate", "bogus"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gateway: unknown revision 'bogus'") and "0001_outbox" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["outbox", "purge", "--older-than-days", "-1"], "--older-than-days: must be zero or more, got -1"),
        (["outbox", "purge", "--older-than-days", "nan"], "must be zero or more"),
        (["outbox", "status", "--limit", "0"], "--limit: must be at least 1"),
        (["serve", "--port", "70000"], "--port: a port is 0…65535"),
        (["datahub-sim", "--port", "-1"], "a port is 0…65535"),
        (["rate", "--accounting-point", GSRN, "--from", "1.3.2026", "--to", "2026-03-31"], "is not a date"),
        (["nonsense"], "invalid choice: 'nonsense'"),
    ],
)
def test_bad_option_values_are_refused_by_the_parser(argv: list[str], message: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("GATEWAY_MAX_MESSAGE_BYTES", "0", "GATEWAY_MAX_MESSAGE_BYTES must be positive, got '0'"),
        ("GATEWAY_MAX_MESSAGE_BYTES", "-5", "GATEWAY_MAX_MESSAGE_BYTES must be positive"),
        ("GATEWAY_MAX_MESSAGE_BYTES", "50MB", "GATEWAY_MAX_MESSAGE_BYTES must be a whole number, got '50MB'"),
        ("GATEWAY_PUBLIC_URL", "gateway.example.fi", "GATEWAY_PUBLIC_URL must be an http:// or https:// URL"),
    ],
)
def test_a_bad_setting_is_one_line_before_anything_runs(variable: str, value: str, message: str,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["outbox", "status"]) == 2
    err = capsys.readouterr().err
    assert err == f"gateway: configuration: {message}\n" or (message in err and err.count("\n") == 1), err


def test_help_and_a_light_command_leave_the_heavy_libraries_unloaded(engine: object, database_url: str,
                                                                     tmp_path: Path) -> None:
    """`gateway --help` imports no database, XML, SOAP, HTTP or array library; `outbox status` and
    `parties list` load the database libraries they need but no XML, SOAP or HTTP library, nor Alembic."""
    probe = ("import json, sys\nfrom gateway.cli import main\n"
             "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
             "print('MODULES ' + json.dumps(sorted(sys.modules)), file=sys.stderr)\nsys.exit(code)\n")

    def modules(*argv: str) -> set[str]:
        done = subprocess.run([sys.executable, "-c", probe, *argv], cwd=tmp_path, env=_env(database_url, tmp_path),
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        line = next(ln for ln in done.stderr.splitlines() if ln.startswith("MODULES "))
        return {name.split(".")[0] for name in json.loads(line[len("MODULES "):])}

    assert not modules("--help") & set(HEAVY)
    assert not modules("outbox", "--help") & set(HEAVY)
    assert not modules("outbox", "status") & {"zeep", "aiohttp", "numpy", "lxml", "alembic", "sqlmodel"}
    # (NumPy comes in with gateway.domain's package __init__, which re-exports the metering types)
    assert not modules("parties", "list") & {"zeep", "aiohttp", "lxml", "alembic"}


def test_parties_load_needs_a_configuration_file_and_replace_to_change_a_party(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'g.db'}")
    assert main(["migrate"]) == 0
    assert main(["parties", "load"]) == 2
    assert "give --config FILE or set GATEWAY_CONFIG" in capsys.readouterr().err

    example = (ROOT / "gateway.example.toml").read_text()
    first, second, empty = tmp_path / "a.toml", tmp_path / "b.toml", tmp_path / "c.toml"
    first.write_text(example)
    second.write_text(example.replace('token = "change-me"', 'token = "the-real-one"').replace(
        'name = "Fingrid Datahub"', 'name = "Fingrid Datahub Oyj"'))
    empty.write_text("[gateway]\n")
    assert main(["--config", str(empty), "parties", "load"]) == 2
    assert "has no [[parties]] entries" in capsys.readouterr().err
    assert main(["--config", str(first), "parties", "load"]) == 0
    assert "3 added, 0 updated" in capsys.readouterr().out
    assert main(["--config", str(first), "parties", "load"]) == 0
    assert "0 added, 0 updated, 3 unchanged" in capsys.readouterr().out

    # the second file changes a token and a name: nothing is stored without --replace, and the error says what
    assert main(["--config", str(second), "parties", "load"]) == 2
    err = capsys.readouterr().err
    assert "6430000000016: name" in err and "6430000000030: token" in err and "--replace" in err
    assert main(["parties", "list", "--json"]) == 0
    names = {p["gln"]: p["name"] for p in json.loads(capsys.readouterr().out)}
    assert names["6430000000016"] == "Fingrid Datahub"
    assert main(["--config", str(second), "parties", "load", "--replace"]) == 0
    out = capsys.readouterr().out
    assert "updated 6430000000030: token" in out and "updated 6430000000016: name" in out

    from gateway.parties import authenticate_token
    from gateway.store.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    assert authenticate_token(engine, "the-real-one") is not None
    assert authenticate_token(engine, "change-me") is None
    engine.dispose()


def test_acts_for_must_name_a_registered_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'g.db'}")
    assert main(["migrate"]) == 0
    assert main(["parties", "add", "6430000000047", "--role", "ESC", "--acts-for", "6430000000030"]) == 2
    assert "acts-for 6430000000030: not a registered party" in capsys.readouterr().err
    assert main(["parties", "add", "6430000000030", "--role", "DDM"]) == 0
    assert main(["parties", "add", "6430000000047", "--role", "ESC", "--acts-for", "6430000000030",
                 "--token", "t1"]) == 0
    assert "added 6430000000047" in capsys.readouterr().out
    assert main(["parties", "add", "6430000000047", "--role", "ESC", "--token", "t2"]) == 0
    assert "updated 6430000000047: token" in capsys.readouterr().out

    config = tmp_path / "p.toml"
    config.write_text('[[parties]]\ngln = "6430000000054"\nroles = ["ESC"]\nacts_for = ["6430000000061"]\n\n'
                      '[[parties]]\ngln = "6430000000061"\nroles = ["DDM"]\n')
    assert main(["--config", str(config), "parties", "load"]) == 0  # a principal later in the same file is fine
    config.write_text('[[parties]]\ngln = "6430000000078"\nroles = ["ESC"]\nacts_for = ["6430000000085"]\n')
    assert main(["--config", str(config), "parties", "load"]) == 2
    assert "acts_for 6430000000085: neither registered nor in the file" in capsys.readouterr().err


def test_a_worker_refuses_a_topic_without_a_handler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'g.db'}")
    assert main(["migrate"]) == 0
    assert main(["worker", "--topic", "no.such.topic"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gateway: no handler for topic(s) no.such.topic; topics: ") and err.count("\n") == 1


def test_a_file_over_the_limit_is_refused_with_its_real_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from mappings import samples

    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'g.db'}")
    monkeypatch.setenv("GATEWAY_MAX_MESSAGE_BYTES", "1000")
    assert main(["migrate"]) == 0
    assert main(["parties", "add", samples.DATAHUB_GLN, "--role", "DH"]) == 0
    big = tmp_path / "big.xml"
    big.write_bytes(b"<x>" + b" " * 5000 + b"</x>")
    capsys.readouterr()
    assert main(["ingest", "--sender", samples.DATAHUB_GLN, str(big)]) == 2
    line = json.loads(capsys.readouterr().out)
    assert line["reason_code"] == "XML.TOO_LARGE"
    assert line["errors"][0]["text"] == f"{big} is 5007 bytes; the limit is 1000 bytes (GATEWAY_MAX_MESSAGE_BYTES)"
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from gateway.store.db import make_engine
    from gateway.store.tables import MessageRecord, RawMessage

    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    with Session(engine) as s:  # nothing of it was stored
        assert s.execute(select(func.count()).select_from(MessageRecord)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(RawMessage)).scalar_one() == 0
    engine.dispose()
