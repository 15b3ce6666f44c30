"""Raw sample counts to physical units in one call: picks the compiled kernel
(``control.runtime._ingest``) or its pure-Python twin (``control.runtime._ingest_py``, which
documents what ``ingest`` computes).

``RIG_INGEST_PURE=1`` forces the twin (the tests run both). If the compiled
module cannot be imported the controller still works, but that is logged at
ERROR level: the twin costs several times more CPU per control period.
"""

from __future__ import annotations

from rig_common.kernels import load

_impl, IMPLEMENTATION = load("control.runtime", "_ingest", "_ingest_py", "RIG_INGEST_PURE",
                            "ingest")

ingest = _impl.ingest

__all__ = ["IMPLEMENTATION", "ingest"]
