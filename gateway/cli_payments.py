"""`gateway provider-sim …` (registered into gateway.cli). Imports stay inside the command functions, so
`gateway --help` does not load aiohttp for them."""

from __future__ import annotations

import argparse

from gateway.config import Settings


def cmd_provider_sim(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.payments.provider_sim.main import main

    return main(args)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from gateway.payments.provider_sim.options import configure_parser

    p = subparsers.add_parser("provider-sim", help="run the payment-provider simulator (Ropo-style REST API, "
                                                   "webhooks, faults) for tests and partner sandboxes")
    configure_parser(p)
    p.set_defaults(func=cmd_provider_sim)
