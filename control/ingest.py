"""Raw sample counts to physical units in one call: picks the compiled kernel
(``control._ingest``) or its pure-Python twin (``control._ingest_py``, which
documents what ``ingest`` computes).

``RIG_INGEST_PURE=1`` forces the twin (the tests run both). If the compiled
module cannot be imported the controller still works, but that is logged at
ERROR level: the twin costs several times more CPU per control period.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

if os.environ.get("RIG_INGEST_PURE") == "1":
    from . import _ingest_py as _impl

    IMPLEMENTATION = "pure"
else:
    try:
        from . import _ingest as _impl  # type: ignore[no-redef]

        IMPLEMENTATION = "compiled"
    except ImportError as err:  # pragma: no cover - exercised only on broken installs
        from . import _ingest_py as _impl  # type: ignore[no-redef]

        IMPLEMENTATION = "pure"
        log.error("compiled ingest module missing (%s): using the slower pure-Python twin; "
                  "rebuild with `pip install -e .`", err)

ingest = _impl.ingest

__all__ = ["IMPLEMENTATION", "ingest"]
