"""The Datahub simulator over real HTTP on 127.0.0.1 from a background thread (the product's own helper)."""

from gateway.datahub_sim.background import RunningSimulator, serve_simulator

__all__ = ["RunningSimulator", "serve_simulator"]
