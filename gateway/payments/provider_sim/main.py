"""``gateway provider-sim``: run the provider simulator as a server (tests, demo, partner sandbox)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from aiohttp import web

from gateway.payments.provider_sim.app import WebhookSettings, create_app
from gateway.payments.provider_sim.clock import SimClock
from gateway.payments.provider_sim.faults import FaultInjector, FaultRule, Outage, parse_fault
from gateway.payments.provider_sim.options import DEFAULT_ACCOUNT, configure_parser
from gateway.payments.provider_sim.simulator import Account, ProviderSimulator


def build_simulator(args: argparse.Namespace) -> ProviderSimulator:
    accounts = [_account(item, args.webhook_url, args.webhook_secret) for item in (args.account or [DEFAULT_ACCOUNT])]
    faults: list[FaultRule] = []
    outages: list[Outage] = []
    for spec in args.fault:
        parsed = parse_fault(spec)
        (outages if isinstance(parsed, Outage) else faults).append(parsed)  # type: ignore[arg-type]
    start = datetime.fromisoformat(args.start.replace("Z", "+00:00")) if args.start else datetime.now(UTC)
    if start.tzinfo is None:
        raise ValueError("--start needs a UTC offset, e.g. 2026-02-01T08:00:00Z")
    clock = SimClock(start, rate=args.clock_rate)
    return ProviderSimulator(accounts, clock=clock, faults=FaultInjector(faults, seed=args.seed), outages=outages,
                             slow_delay=args.slow_delay)


def main(args: argparse.Namespace) -> int:
    try:
        sim = build_simulator(args)
    except ValueError as exc:
        print(f"gateway provider-sim: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(sim, args.host, args.port))
    return 0


async def _serve(sim: ProviderSimulator, host: str, port: int) -> None:
    runner = web.AppRunner(create_app(sim, WebhookSettings()))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound_host, bound_port = runner.addresses[0][:2]
        names = ", ".join(a.name for a in sim.accounts())
        print(f"provider simulator listening on http://{bound_host}:{bound_port}/ (accounts: {names}; simulated now "
              f"{sim.clock.now().isoformat()})", flush=True)
        logging.getLogger(__name__).info("provider simulator started")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def _account(item: str, webhook_url: str | None, secret: str | None) -> Account:
    name, separator, token = item.partition("=")
    if not separator or not name or not token:
        raise ValueError(f"--account {item!r}: expected NAME=TOKEN")
    return Account(name, token, webhook_url, secret)


def run(argv: Sequence[str]) -> int:
    """``python -m gateway.payments.provider_sim`` without the gateway's configuration."""
    parser = argparse.ArgumentParser(prog="provider-sim")
    configure_parser(parser)
    return main(parser.parse_args(argv))
