"""``python -m gateway.datahub_sim``: the simulator without the gateway CLI."""

import argparse
import logging

from gateway.datahub_sim.main import configure_parser, main

logging.basicConfig(level=logging.INFO)
_parser = argparse.ArgumentParser(prog="python -m gateway.datahub_sim")
configure_parser(_parser)
raise SystemExit(main(_parser.parse_args()))
