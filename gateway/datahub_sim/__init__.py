"""A Datahub peer speaking Messages.wsdl (tests, demo, partner sandbox)."""

from gateway.datahub_sim.app import create_app
from gateway.datahub_sim.faults import FaultInjector, FaultRule, parse_fault_rule
from gateway.datahub_sim.main import configure_parser, main, run_simulator
from gateway.datahub_sim.simulator import DatahubSimulator, QueuedMessage, ReceivedMessage, SimulatorFault

__all__ = [
    "DatahubSimulator",
    "FaultInjector",
    "FaultRule",
    "QueuedMessage",
    "ReceivedMessage",
    "SimulatorFault",
    "configure_parser",
    "create_app",
    "main",
    "parse_fault_rule",
    "run_simulator",
]
