"""``python -m control`` is ``rig-control``."""

import sys

from .cli import main

sys.exit(main())
