"""Pseudo-terminal ports for the firmware side (simulator, self-test).

``PtyPort.open()`` makes a raw pty pair and returns the slave path for the
controller to open as its serial port. A stable symlink (like udev's
``/dev/serial/by-id/...``) can point at it, so a simulated cable pull
(``close()`` then ``open()`` again) gives a new pty behind the same name.
The port keeps its own slave fd open so that the master never reads EIO when
the controller closes the port; the firmware notices a dead controller by its
watchdog, as real firmware would.
"""

from __future__ import annotations

import contextlib
import os
import tty
from pathlib import Path


class PtyPort:
    def __init__(self, link_path: str | os.PathLike[str] | None = None) -> None:
        self.link_path = Path(link_path) if link_path is not None else None
        self.master_fd: int | None = None
        self._slave_fd: int | None = None
        self.slave_path: str | None = None

    @property
    def path(self) -> str:
        """The name to give the controller (the symlink when there is one)."""
        if self.link_path is not None:
            return str(self.link_path)
        if self.slave_path is None:
            raise RuntimeError("pty is not open")
        return self.slave_path

    def open(self) -> int:
        master, slave = os.openpty()
        tty.setraw(slave)
        tty.setraw(master)
        self.master_fd, self._slave_fd = master, slave
        self.slave_path = os.ttyname(slave)
        if self.link_path is not None:
            tmp = self.link_path.with_name(self.link_path.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.slave_path)
            tmp.replace(self.link_path)
        return master

    def close(self) -> None:
        """Close both ends: whoever has the slave open sees the port vanish."""
        if self.link_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link_path.unlink()
        for fd in (self.master_fd, self._slave_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master_fd = self._slave_fd = None
        self.slave_path = None
