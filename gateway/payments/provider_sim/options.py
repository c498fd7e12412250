"""The command-line options of ``gateway provider-sim``: argparse only, so that building the gateway's parser
(``gateway --help``) does not import aiohttp."""

from __future__ import annotations

import argparse

DEFAULT_ACCOUNT = "sandbox=sandbox-token"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--account", action="append", default=[], metavar="NAME=TOKEN",
                        help=f"a provider account and its bearer token; repeatable (default: {DEFAULT_ACCOUNT})")
    parser.add_argument("--webhook-url", help="POST status update batches here (every account)")
    parser.add_argument("--webhook-secret", help="shared secret: HMAC-SHA256 of each body in X-Provider-Signature")
    parser.add_argument("--fault", action="append", default=[], metavar="SPEC",
                        help="OPERATION:KIND[:calls=1,2|p=0.1] (operations create_job, payment, statusupdates, "
                             "webhook; kinds http_5xx, slow, lost_answer, duplicate) or down:for=SECONDS / "
                             "down:from=ISO,for=SECONDS; repeatable")
    parser.add_argument("--start", help="simulated start instant (ISO 8601 with offset; default: now)")
    parser.add_argument("--clock-rate", type=float, default=1.0,
                        help="simulated seconds per real second (0 = frozen; POST /sim/clock advances it)")
    parser.add_argument("--seed", type=int, default=0, help="seed for probabilistic faults")
    parser.add_argument("--slow-delay", type=float, default=5.0, help="seconds an injected slow answer waits")
