"""A small real filesystem the outbox can fill or see turn read-only (issue 22, part B).

As root (the CI runs as root) it is a real tmpfs of ``size`` mounted by the test:
``fill()`` writes a filler file until the filesystem says ENOSPC, ``free()``
deletes it; ``read_only()`` remounts it ``ro`` (an SD card remounted after an
error; Linux refuses that while a file is open for writing, so EROFS is then
injected at the file layer), ``writable()`` remounts it ``rw``. Not as root it falls back to a plain
directory and an injected failure at the outbox's file layer
(``OutboxStore.apply`` raising ``OutboxStorageError`` with ENOSPC or EROFS).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from pathlib import Path

import pytest

from telemetry.rover.downlink.errors import OutboxStorageError
from telemetry.rover.downlink.outbox_store import OutboxStore


class SmallFilesystem:
    def __init__(self, path: Path, monkeypatch: pytest.MonkeyPatch, size: str = "1500k") -> None:
        self.path = path
        self.real = os.geteuid() == 0
        self._monkeypatch = monkeypatch
        self._filler = path / "filler.bin"
        self._injected_ro = False
        path.mkdir(parents=True, exist_ok=True)
        if self.real:
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                           check=True)

    def _inject(self, code: int) -> None:
        original = OutboxStore.apply

        def failing(store: OutboxStore, changes: object) -> bool:
            raise OutboxStorageError(f"cannot write to outbox {store.path}: [Errno {code}] "
                                     f"{os.strerror(code)}", errno.errorcode[code])

        self._monkeypatch.setattr(OutboxStore, "apply", failing)
        self._original = original

    def fill(self) -> None:
        """Take every free byte (another process filled the card)."""
        if not self.real:
            self._inject(errno.ENOSPC)
            return
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for size in (65536, 4096, 512):
                with contextlib.suppress(OSError):
                    while os.write(fd, b"\0" * size) == size:
                        pass
        finally:
            os.close(fd)

    def free(self) -> None:
        if not self.real:
            self._monkeypatch.setattr(OutboxStore, "apply", self._original)
            return
        self._filler.unlink(missing_ok=True)

    def read_only(self) -> None:
        """Remount read-only. Linux refuses ``remount,ro`` (EBUSY) while a file is open
        for writing (only the kernel forces it, on an I/O error), and the outbox keeps
        its files open: then EROFS is injected at the file layer instead."""
        self._injected_ro = not self.real or subprocess.run(
            ["mount", "-o", "remount,ro", str(self.path)], capture_output=True).returncode != 0
        if self._injected_ro:
            self._inject(errno.EROFS)

    def writable(self) -> None:
        if self._injected_ro:
            self._monkeypatch.setattr(OutboxStore, "apply", self._original)
            return
        subprocess.run(["mount", "-o", "remount,rw", str(self.path)], check=True)

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def close(self) -> None:
        if self.real:
            subprocess.run(["umount", "-l", str(self.path)], check=False)
