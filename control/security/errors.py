"""The exception tree of ``control.security``.

Rejected ground commands are *values* (``Rejection``), never exceptions: wire
garbage must not escape the authenticator. Exceptions are for the operator's
and the programmer's mistakes, and for a damaged on-board ledger:

* ``SecurityError`` (a ``ControlError``) is the root.
* ``SecurityConfigError`` (also a ``ConfigError``/``ValueError``) names the
  configuration key that is wrong (``security.keys.ops-1.public_key``), so the
  controller's start-up error handling reports it like any other config error.
* Key files and the site plan belong to ``telemetry.contract`` (the ground
  reads them too): its ``KeyFileError`` and ``SitePlanError`` are not
  ``SecurityError``s; ``control.runtime.security_setup`` turns them into ``ConfigError``s
  naming the key, and ``control.security`` re-exports ``KeyFileError``.
* ``LedgerError`` covers the on-board ledger; ``LedgerCorruptError`` says which
  entry of the file is broken and why (found when re-opening it).
"""

from __future__ import annotations

from control.core.errors import ConfigError, ControlError


class SecurityError(ControlError):
    """Root of every error raised by ``control.security``."""


class SecurityConfigError(SecurityError, ConfigError):
    """A security or site-plan configuration value is invalid; ``key`` names it."""


class LedgerError(SecurityError):
    """The on-board extraction ledger cannot be opened or written."""


class LedgerCorruptError(LedgerError):
    """The ledger file fails verification at entry ``index`` (line ``line``)."""

    def __init__(self, path: str, line: int, index: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.index = index
        self.reason = reason
        where = f"line {line}" + (f" (entry {index})" if index is not None else "")
        super().__init__(f"{path}: {where}: {reason}")


__all__ = [
    "LedgerCorruptError",
    "LedgerError",
    "SecurityConfigError",
    "SecurityError",
]
