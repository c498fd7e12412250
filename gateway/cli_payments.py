"""`gateway provider-sim …` (registered into gateway.cli). Imports stay inside the command functions, so
`gateway --help` does not load aiohttp for them."""

from __future__ import annotations

import argparse

from gateway.cli_support import Commands, Database
from gateway.config import Settings


def cmd_provider_sim(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.payments.provider_sim.main import main

    return main(args)


def register(commands: Commands) -> None:
    # The simulator stands in for the provider: it needs no database of ours.
    commands.add("provider-sim", cmd_provider_sim, database=Database.NONE,
                 configure="gateway.payments.provider_sim.options:configure_parser",
                 help="run the payment-provider simulator (Ropo-style REST API, webhooks, faults) for tests and "
                      "partner sandboxes")
