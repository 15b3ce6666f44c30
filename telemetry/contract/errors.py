"""The contract's exception tree: what rover and ground code both catch.

The contract is shared by the rover (``control``, ``telemetry.rover.downlink``) and the
ground tools (``telemetry.ground``), so its errors import nothing from either:

* ``ContractError`` is the root.
* ``ContractConfigError`` (also a ``ValueError``) means a value that the contract
  validates is wrong (a topic prefix, a rig id or stream name, a site-plan key);
  ``key`` names it (``topic_prefix``, ``site_plan.keep_out[1].polygon``).
  ``SitePlanError`` is the site plan's kind of it.
* ``PayloadEncodeError`` means "you asked to encode something the wire cannot
  carry"; ``PayloadDecodeError`` means "the other side sent garbage" and is the
  only error ``payloads.decode`` raises.
* ``KeyFileError`` means a key file is missing, unreadable or not a key.

Rejected ground commands are values (``command_wire.WireRefusal`` carried into a
``Rejection`` by the rover), never these exceptions. Rover code translates these
errors into its own tree at its boundary (``control.runtime.security_setup`` turns a
``SitePlanError`` into the controller's ``SecurityConfigError`` with the same key).
"""

from __future__ import annotations

__all__ = [
    "ContractConfigError",
    "ContractError",
    "KeyFileError",
    "PayloadDecodeError",
    "PayloadEncodeError",
    "SitePlanError",
]


class ContractError(Exception):
    """Root of every error raised by ``telemetry.contract``."""


class ContractConfigError(ContractError, ValueError):
    """A contract value is invalid; ``key`` names it and ``problem`` says why."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


class SitePlanError(ContractConfigError):
    """A ``[site_plan]`` value is invalid; ``key`` names it (``site_plan.site[1].x``)."""


class PayloadEncodeError(ContractError, ValueError):
    """A message could not be encoded (e.g. NaN in a JSON payload, bad shape)."""


class PayloadDecodeError(ContractError, ValueError):
    """A received payload is malformed; ``reason`` says what was expected."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeyFileError(ContractError, ValueError):
    """A key file cannot be read or does not hold a key of the expected kind."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")
