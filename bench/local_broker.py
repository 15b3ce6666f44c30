"""A throwaway Mosquitto on a free loopback port, for the benchmarks.

(The tests start theirs with the fixture in ``tests/conftest.py``.) ``start`` returns
once the broker accepts connections; ``stop`` and ``start`` again keep the port, so a
benchmark can take the broker away for a while and bring it back.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

__all__ = ["Broker"]

_BINARIES = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


class Broker:
    """*conf*: extra ``mosquitto.conf`` lines; *log*: keep its stderr in
    ``workdir/mosquitto.log`` (else it is discarded)."""

    def __init__(self, workdir: Path, conf: str = "", *, log: bool = False) -> None:
        binary = next((b for b in _BINARIES if shutil.which(b)), None)
        if binary is None:
            sys.exit("mosquitto not found: run scripts/ensure-mosquitto.sh")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        path = workdir / "mosquitto.conf"
        path.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                        f"persistence false\n{conf}")
        self.argv = [binary, "-c", str(path)]
        self._log: IO[bytes] | None = open(workdir / "mosquitto.log", "ab") if log else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.outages = 0  # for the caller's count of the times it took the broker away

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def up(self) -> bool:
        return self.proc is not None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL,
                                     stderr=self._log or subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("mosquitto did not start")
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
