"""``gateway datahub-sim``: run the simulator as a server (demo, partner sandbox, manual tests)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import ssl
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from aiohttp import web

from gateway.datahub_sim.app import create_app
from gateway.datahub_sim.faults import FaultInjector, FaultRule, parse_fault_rule
from gateway.datahub_sim.simulator import DEFAULT_DATAHUB_GLN, DatahubSimulator

_log = logging.getLogger(__name__)


async def run_simulator(
    host: str,
    port: int,
    scenario_dirs: Sequence[Path] = (),
    parties: Mapping[str, str] | None = None,
    faults: Sequence[FaultRule] = (),
    *,
    cert_parties: Mapping[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    seed: int = 0,
    datahub_gln: str = DEFAULT_DATAHUB_GLN,
    allow_gln_header: bool = True,
    timeout_delay: float = 5.0,
    slow_delay: float = 5.0,
    started: asyncio.Event | None = None,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve until cancelled. ``parties``: bearer token → GLN; ``cert_parties``: client certificate common
    name → GLN (with an ``ssl_context`` that asks for client certificates). ``started`` is set once the port
    listens; ``on_listening`` gets the URL it listens at (the real port when ``port`` is 0)."""
    sim = DatahubSimulator(
        datahub_gln=datahub_gln,
        parties=parties,
        cert_parties=cert_parties,
        allow_gln_header=allow_gln_header,
        faults=FaultInjector(faults, seed=seed),
        timeout_delay=timeout_delay,
        slow_delay=slow_delay,
    )
    for directory in scenario_dirs:
        loaded = sim.load_scenario(directory)
        _log.info("scenario %s: %d message(s) queued", directory, len(loaded))
    runner = web.AppRunner(create_app(sim))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
        scheme = "https" if ssl_context else "http"
        bound = runner.addresses[0] if runner.addresses else (host, port)
        url = f"{scheme}://{_url_host(str(bound[0]))}:{int(bound[1])}/"
        _log.info("Datahub simulator listening on %s (WSDL: ?wsdl)", url)
        if on_listening is not None:
            on_listening(url)
        if started is not None:
            started.set()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"a port is 0…65535 (0: any free port), got {text!r}")
    return int(text)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=_port, default=8081, help="0: any free port (printed at start)")
    parser.add_argument(
        "--scenario",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="queue DIR's *.xml files (sorted by name) for their Header's physical recipient; repeatable",
    )
    parser.add_argument(
        "--party",
        action="append",
        default=[],
        metavar="TOKEN=GLN",
        help="accept 'Authorization: Bearer TOKEN' as party GLN; repeatable",
    )
    parser.add_argument(
        "--no-gln-header",
        action="store_true",
        help="do not accept the sandbox header X-Party-GLN (only bearer tokens identify callers)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="OPERATION:KIND[:calls=1,2|p=0.1]",
        help="inject a fault (kinds: timeout, http_5xx, duplicate, dequeue_fault, reject, slow); repeatable",
    )
    parser.add_argument(
        "--cert-party",
        action="append",
        default=[],
        metavar="CN=GLN",
        help="accept a TLS client certificate with common name CN as party GLN; repeatable",
    )
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="private key of --tls-cert (PEM)")
    parser.add_argument("--tls-client-ca", type=Path, help="require client certificates issued by this CA (PEM)")
    parser.add_argument("--seed", type=int, default=0, help="seed for probabilistic faults")
    parser.add_argument("--timeout-delay", type=float, default=5.0, help="seconds an injected timeout holds a call")
    parser.add_argument("--slow-delay", type=float, default=5.0, help="seconds an injected slow answer is held")
    parser.add_argument("--datahub-gln", default=DEFAULT_DATAHUB_GLN, help="sender GLN of Datahub's ACKs")


def main(args: argparse.Namespace) -> int:
    try:
        parties = dict(_key_and_gln(item, "--party") for item in args.party)
        cert_parties = dict(_key_and_gln(item, "--cert-party") for item in args.cert_party)
        faults = [parse_fault_rule(spec) for spec in args.fault]
        ssl_context = server_ssl_context(args.tls_cert, args.tls_key, args.tls_client_ca)
    except (ValueError, OSError) as exc:
        print(f"gateway datahub-sim: {exc}", file=sys.stderr)
        return 2

    def announce(url: str) -> None:
        queued = f"; scenario {', '.join(map(str, args.scenario))}" if args.scenario else ""
        print(f"Datahub simulator started: listening on {url} (WSDL: {url}?wsdl){queued}; "
              "stop with Ctrl-C", flush=True)

    signal.signal(signal.SIGTERM, _interrupt)  # stop as on Ctrl-C: the server is cleaned up
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_simulator(
                args.host,
                args.port,
                args.scenario,
                parties,
                faults,
                cert_parties=cert_parties,
                ssl_context=ssl_context,
                seed=args.seed,
                datahub_gln=args.datahub_gln,
                allow_gln_header=not args.no_gln_header,
                timeout_delay=args.timeout_delay,
                on_listening=announce,
                slow_delay=args.slow_delay,
            )
        )
    return 0


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def server_ssl_context(cert: Path | None, key: Path | None, client_ca: Path | None) -> ssl.SSLContext | None:
    """HTTPS for the simulator; with ``client_ca`` every client must present a certificate it issued."""
    if cert is None:
        if key is not None or client_ca is not None:
            raise ValueError("--tls-key and --tls-client-ca need --tls-cert")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _key_and_gln(item: str, option: str) -> tuple[str, str]:
    key, separator, gln = item.partition("=")
    if not separator or not key or not gln:
        raise ValueError(f"{option} {item!r}: expected KEY=GLN")
    return key, gln
