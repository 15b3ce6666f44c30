"""The controller's exception tree.

``ControlError`` is the root. ``ConfigError`` (also a ``ValueError``) means a
configuration or mission file is wrong and names the offending key;
``InvalidTransitionError`` means the supervisor was asked for a (state, input)
pair its table does not have: a programming error, never silently ignored.
Errors from the firmware bridge are translated at the app boundary.
"""

from __future__ import annotations


class ControlError(Exception):
    """Root of every error raised by control."""


class ConfigError(ControlError, ValueError):
    """A configuration (or mission) value is invalid; ``key`` names it (``strategy.kp``)."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


class InvalidTransitionError(ControlError):
    """The supervisor has no transition for (state, input)."""

    def __init__(self, state: object, trigger: object, reason: str = "") -> None:
        self.state = state
        self.trigger = trigger
        self.reason = reason
        name_s = getattr(state, "name", state)
        name_t = getattr(trigger, "name", trigger)
        super().__init__(f"no transition from {name_s} on {name_t}"
                         + (f" (reason: {reason})" if reason else ""))


class CommandFormatError(ControlError, ValueError):
    """A ground command payload is malformed (not JSON, missing or mistyped field);
    ``rejection`` is the typed verdict (``control.security.Rejection``) when known."""

    def __init__(self, detail: str, rejection: object = None) -> None:
        self.detail = detail
        self.rejection = rejection
        super().__init__(detail)


class RigConnectionError(ControlError, ConnectionError):
    """The controller could not reach the firmware at start-up."""
