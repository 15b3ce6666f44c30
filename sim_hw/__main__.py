"""``python -m sim_hw`` == ``rig-sim``."""

import sys

from .cli import main

sys.exit(main())
