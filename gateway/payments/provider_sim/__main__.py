import sys

from gateway.payments.provider_sim.main import run

sys.exit(run(sys.argv[1:]))
