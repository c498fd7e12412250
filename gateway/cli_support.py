"""What every `gateway` command shares: registration, lazy imports, the database check and one-line errors.

`gateway/cli.py`'s docstring shows how a command module uses it. This module imports nothing heavy at module
level: `gateway --help` loads it and argparse, and nothing else of ours.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from gateway.config import Settings

Handler = Callable[[argparse.Namespace, "Settings"], int]
Configure = Callable[[argparse.ArgumentParser], None]

log = logging.getLogger("gateway.cli")


class Database(Enum):
    """What a command needs of the database before its handler runs."""

    NONE = "none"  # never opens it (simulators)
    REACHABLE = "reachable"  # must connect; the schema may be anything (migrate, demo)
    MIGRATED = "migrated"  # must connect, schema at this code's head revision (the default)
    ADVISORY = "advisory"  # checked like MIGRATED, but a problem is only reported (serve: /health shows it)


class CliError(Exception):
    """A problem the user can fix: printed as one line (`gateway: …`), exit status ``status``."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def resolve(target: Callable[..., Any] | str) -> Callable[..., Any]:
    """A callable, or ``"package.module:function"`` imported now (the lazy form)."""
    if not isinstance(target, str):
        return target
    module, _, attribute = target.partition(":")
    return cast(Callable[..., Any], getattr(importlib.import_module(module), attribute))


@dataclass(frozen=True)
class Command:
    """What `gateway` runs for a parsed command line (stored in the namespace as ``args.command``)."""

    name: str  # e.g. "outbox status"
    run: Handler | str
    database: Database

    def handler(self) -> Handler:
        return cast("Handler", resolve(self.run))


class LazySubParsers(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Subcommands whose arguments may be defined by a function in another module, imported only when that
    subcommand is on the command line (`gateway --help` lists them without importing anything)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred: dict[str, Configure | str] = {}

    def defer(self, name: str, configure: Configure | str) -> None:
        self._deferred[name] = configure

    def configure(self, name: str) -> None:
        configure = self._deferred.pop(name, None)
        if configure is not None:
            resolve(configure)(self.choices[name])

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        if isinstance(values, list | tuple) and values:
            self.configure(str(values[0]))
        super().__call__(parser, namespace, values, option_string)


class Commands:
    """What a command module's ``register(commands)`` receives."""

    def __init__(self, subparsers: LazySubParsers, prefix: str = "") -> None:
        self._subparsers = subparsers
        self._prefix = prefix

    @classmethod
    def of(cls, parser: argparse.ArgumentParser) -> Commands:
        subparsers = parser.add_subparsers(dest="command_name", required=True, metavar="COMMAND",
                                           action=LazySubParsers)
        return cls(cast(LazySubParsers, subparsers))

    def add(self, name: str, run: Handler | str, *, help: str, database: Database = Database.MIGRATED,
            configure: Configure | str | None = None) -> argparse.ArgumentParser:
        """Add subcommand ``name``; ``run(args, settings) -> exit status``. ``run`` and ``configure`` (a function
        adding the arguments) may be ``"module:function"`` strings: imported only when the command runs."""
        parser: argparse.ArgumentParser = self._subparsers.add_parser(name, help=help, description=help)
        parser.set_defaults(command=Command(self._prefix + name, run, database))
        if configure is not None:
            self._subparsers.defer(name, configure)
        return parser

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """The older ``register(subparsers)`` form: a parser whose ``set_defaults(func=handler)`` names the
        handler; it runs like ``add``'s, with the ``MIGRATED`` check."""
        parser: argparse.ArgumentParser = self._subparsers.add_parser(name, **kwargs)
        return parser

    def group(self, name: str, *, help: str) -> Commands:
        """A command with subcommands of its own (`gateway outbox status`)."""
        parser = self._subparsers.add_parser(name, help=help, description=help)
        subparsers = parser.add_subparsers(dest=name.replace("-", "_") + "_command", required=True,
                                           metavar="COMMAND", action=LazySubParsers)
        return Commands(cast(LazySubParsers, subparsers), prefix=f"{self._prefix}{name} ")


def leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
                  ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every runnable command line prefix with its parser, deferred arguments configured (for tests and docs)."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
        return
    for action in subparsers:
        for name, child in action.choices.items():
            if isinstance(action, LazySubParsers):
                action.configure(name)
            yield from leaf_commands(child, (*path, name))


# --- argument types ------------------------------------------------------------------------------------------

def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):  # also refuses NaN
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text}")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0…65535 (0: any free port), got {text}")
    return value


# --- the database --------------------------------------------------------------------------------------------

_engines: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    """The engine of this command run for ``url``: the schema check's connection is reused by the command, and
    `run` disposes of it when the command ends."""
    engine = _engines.get(url)
    if engine is None:
        from sqlalchemy.engine import make_url

        from gateway.store.db import make_engine

        extra: dict[str, Any] = {}
        if make_url(url).get_backend_name() == "postgresql" and "connect_timeout" not in make_url(url).query:
            extra["connect_args"] = {"connect_timeout": 15}  # a black-holed host is an error, not a hang
        engine = _engines[url] = make_engine(url, **extra)
    return engine


def dispose_engines() -> None:
    while _engines:
        _engines.popitem()[1].dispose()


def one_line(error: object, limit: int = 300) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _driver_reason(error: BaseException) -> str:
    return one_line(getattr(error, "orig", None) or error)


def connection_problem(url: str, error: BaseException) -> str:
    from gateway.config import safe_database_url

    reason = _driver_reason(error)
    hint = "check GATEWAY_DATABASE_URL (or [gateway] database_url) and that the database server runs"
    if "does not exist" in reason:
        from sqlalchemy.engine import make_url

        hint = f"create the database (e.g. `createdb {make_url(url).database}`), then run `gateway migrate`"
    elif "unable to open database file" in reason:
        hint = "check that the SQLite file's directory exists and is writable"
    return f"cannot connect to the database {safe_database_url(url)}: {reason}; {hint}"


def schema_problem(engine: Engine) -> str | None:
    """Why this database cannot be used by this version of the code, or None. Raises CliError when it cannot
    be reached at all."""
    from sqlalchemy.exc import DBAPIError

    from gateway.config import safe_database_url
    from gateway.store.revisions import current_revision, head_revision, known_revisions

    url = engine.url.render_as_string(hide_password=False)
    try:
        with engine.connect() as connection:
            current = current_revision(connection)
    except DBAPIError as error:
        raise CliError(connection_problem(url, error)) from None
    head = head_revision()
    where = f"the database {safe_database_url(url)}"
    if current == head:
        return None
    if current is None:
        return f"{where} has no schema yet: run `gateway migrate` first"
    if current not in known_revisions():
        return (f"{where} is at schema revision {current}, which this version of the gateway does not know "
                "(migrated by a newer release?)")
    return f"{where} is at schema revision {current}, this version needs {head}: run `gateway migrate`"


def check_database(need: Database, settings: Settings) -> None:
    """Refuse to run a command whose database is misspelt, unreachable or not migrated, in one line."""
    if need is Database.NONE:
        return
    from gateway.config import database_url_problem

    problem = database_url_problem(settings.database_url)
    if problem is not None:
        raise CliError(f"GATEWAY_DATABASE_URL / [gateway] database_url: {problem}")
    engine = engine_for(settings.database_url)
    try:
        if need is Database.REACHABLE:
            from sqlalchemy import text
            from sqlalchemy.exc import DBAPIError

            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
            except DBAPIError as error:
                raise CliError(connection_problem(settings.database_url, error)) from None
            return
        problem = schema_problem(engine)
    except CliError as error:
        if need is not Database.ADVISORY:
            raise
        problem = str(error)
    if problem is None:
        return
    if need is Database.ADVISORY:
        print(f"gateway: warning: {problem}", file=sys.stderr, flush=True)
        return
    raise CliError(problem)


# --- running a command ---------------------------------------------------------------------------------------

def describe_failure(error: BaseException, settings: Settings | None) -> CliError:
    """The one line (and status) for an exception that escaped a command."""
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_exc is not None and isinstance(error, sqlalchemy_exc.SQLAlchemyError):
        reason = _driver_reason(error)
        lowered = reason.lower()
        if any(s in lowered for s in ("no such table", "no such column", "undefined", "does not exist")):
            return CliError(f"the database schema does not match this version ({reason}): run `gateway migrate`")
        if isinstance(error, sqlalchemy_exc.DBAPIError) and error.connection_invalidated and settings is not None:
            return CliError(connection_problem(settings.database_url, error), 1)
        return CliError(f"database error: {reason}", 1)
    alembic_exc = sys.modules.get("alembic.util.exc")
    if alembic_exc is not None and isinstance(error, alembic_exc.CommandError):
        return CliError(f"migration: {one_line(error)}")
    if isinstance(error, OSError) and error.strerror:
        where = f"{error.filename}: " if error.filename else ""
        return CliError(f"{where}{error.strerror}", 1)
    return CliError(f"internal error ({type(error).__name__}: {one_line(error)}); run with --verbose for the "
                    "traceback", 1)


def run(args: argparse.Namespace) -> int:
    """Load the settings, check the database the command needs, run it; every failure is one line on stderr."""
    command: Command = getattr(args, "command", None) or Command(
        str(getattr(args, "command_name", "")), args.func, Database.MIGRATED)
    settings: Settings | None = None
    try:
        from gateway.config import ConfigError, load_settings

        try:
            settings = load_settings(args.config)
        except OSError as error:
            raise CliError(f"cannot read configuration: {error.strerror}: {error.filename}") from None
        except ConfigError as error:
            raise CliError(f"configuration: {error}") from None
        check_database(command.database, settings)
        return command.handler()(args, settings)
    except CliError as error:
        print(f"gateway: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `gateway … | head`: the reader has gone; say nothing more (Python's own advice)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as error:
        log.debug("gateway %s failed", command.name, exc_info=True)
        failure = describe_failure(error, settings)
        print(f"gateway: {failure}", file=sys.stderr)
        return failure.status
    finally:
        dispose_engines()


class OneLineFormatter(logging.Formatter):
    """Log records as single lines: an exception adds its type and message, not its traceback (which
    ``--verbose`` shows)."""

    def __init__(self, fmt: str, *, tracebacks: bool) -> None:
        super().__init__(fmt)
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if self.tracebacks or not record.exc_info:
            return super().format(record)
        saved = record.exc_info, record.exc_text, record.stack_info
        error = record.exc_info[1]
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            line = super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved
        return f"{line} ({type(error).__name__}: {one_line(error)})" if error is not None else line


def configure_logging(verbose: bool) -> None:
    """Like `logging.basicConfig` (and, like it, nothing when the process has set up logging itself, e.g. under
    pytest), with one line per record."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", tracebacks=verbose))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
