"""Read a TOML file into a dict, or raise the caller's error naming the file.

``load_toml(path, key="<file>", error=ConfigError)``: an unreadable file gives
``error(key, "cannot read PATH: REASON")``, a syntax error ``error(key, "PATH is not
valid TOML: ... (at line L, column C)")``. Validating the *content* is the caller's
job (each names its own keys).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .bounded import ErrorFactory

__all__ = ["TomlFileError", "load_toml"]


class TomlFileError(ValueError):
    """Default error of ``load_toml`` when the caller passes none."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


def load_toml(path: str | Path, *, key: str = "<file>",
              error: ErrorFactory = TomlFileError) -> dict[str, Any]:
    """The parsed document at *path*; raises ``error(key, problem)``."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as err:
        raise error(key, f"cannot read {path}: {err.strerror or err}") from err
    except tomllib.TOMLDecodeError as err:
        raise error(key, f"{path} is not valid TOML: {err}") from err
    except UnicodeDecodeError as err:  # tomllib decodes UTF-8 itself
        raise error(key, f"{path} is not UTF-8 (byte {err.start})") from err
