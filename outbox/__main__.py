import sys

from outbox.runner import main

sys.exit(main())
