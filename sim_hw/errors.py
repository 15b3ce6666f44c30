"""The simulator's exception tree.

``SimError`` is the root. ``SimUsageError`` (also a ``ValueError``) means the
simulator was configured or called wrongly; ``ScenarioError`` is a usage
error that names the scenario entry, key or line at fault.
"""

from __future__ import annotations


class SimError(Exception):
    """Root of every error raised by sim_hw."""


class SimUsageError(SimError, ValueError):
    """Invalid configuration or API misuse."""


class ScenarioError(SimUsageError):
    """A fault spec or scenario file is malformed (the message names where)."""
