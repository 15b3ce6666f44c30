"""systemd notification (``sd_notify``) over a plain AF_UNIX datagram socket.

With ``Type=notify`` and ``WatchdogSec=`` in the unit, systemd passes
``$NOTIFY_SOCKET`` and ``$WATCHDOG_USEC``. The controller sends ``READY=1``
once the firmware link is up, ``WATCHDOG=1`` from the control loop (so a hung
loop, not just a hung process, gets the service restarted) and ``STOPPING=1``
on the way out, then closes the socket (``close``; afterwards every call is a
no-op). Without ``$NOTIFY_SOCKET`` every call is a no-op. Sending never blocks
and never raises: a lost notification is logged once. ``$WATCHDOG_USEC`` that is
not a positive integer, or a ``$WATCHDOG_PID`` naming another process, means no
watchdog (as ``sd_watchdog_enabled`` reads them).
"""

from __future__ import annotations

import logging
import os
import socket

__all__ = ["SdNotifier"]

log = logging.getLogger(__name__)


class SdNotifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        addr = env.get("NOTIFY_SOCKET", "")
        if addr.startswith("@"):  # abstract namespace
            addr = "\0" + addr[1:]
        self._addr = addr or None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        ok_pid = not pid or pid == str(os.getpid())
        #: seconds between watchdog pings (half of WatchdogSec), None without a watchdog
        self.watchdog_interval = (int(usec) / 2e6 if usec.isdigit() and int(usec) > 0
                                  and ok_pid else None)
        self._sock: socket.socket | None = None
        self._warned = False
        if self._addr is not None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, state: str) -> bool:
        if self._sock is None or self._addr is None:
            return False
        try:
            self._sock.sendto(state.encode(), self._addr)
        except OSError as err:
            if not self._warned:
                log.warning("sd_notify to %r failed: %s", self._addr, err)
                self._warned = True
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
