"""Shared fixtures: a real Mosquitto broker per test.

``mosquitto`` is a started, function-scoped broker on a free loopback port.
``mosquitto_factory(extra_config=[...], files={...}, persistence=False)`` builds
custom ones (password file, ACL, second listener...): ``files`` are written next to the generated
``mosquitto.conf`` and ``{dir}`` in config lines expands to that directory, e.g.
``mosquitto_factory(extra_config=["password_file {dir}/passwd"], files={"passwd": ...},
allow_anonymous=False)``. Brokers are torn down at test end; their stderr log is
in ``broker.log_path`` (under the test's tmp_path) and printed on start failure.
``broker.pause()`` SIGSTOPs the process: its connections stay open but nothing is
answered (a broker gone silent); ``broker.resume()`` SIGCONTs it.

A missing ``mosquitto`` binary FAILS the test: run ``scripts/ensure-mosquitto.sh``.
"""

from __future__ import annotations

import gc
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def find_mosquitto() -> str:
    explicit = os.environ.get("MOSQUITTO")
    for candidate in ((explicit,) if explicit else ()) + _CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail("the Mosquitto broker binary was not found (tried $MOSQUITTO, "
                f"{', '.join(_CANDIDATES)}): run scripts/ensure-mosquitto.sh", pytrace=False)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MosquittoBroker:
    """One Mosquitto process with its own config, restartable on the same port."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path, *, extra_config: Sequence[str] = (),
                 files: Mapping[str, str | bytes] | None = None,
                 allow_anonymous: bool = True, persistence: bool = False,
                 port: int | None = None) -> None:
        self.binary = find_mosquitto()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.config_path = self.dir / "mosquitto.conf"
        self.log_path = self.dir / "mosquitto.log"
        for name, content in (files or {}).items():
            path = self.dir / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
            path.chmod(0o600)
        lines = [
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'true' if allow_anonymous else 'false'}",
            "set_tcp_nodelay true",
            f"persistence {'true' if persistence else 'false'}",
            *([f"persistence_location {self.dir}/"] if persistence else []),
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %H:%M:%S",
            "max_queued_messages 100000",
            f"user {getpass.getuser()}",
            *(line.replace("{dir}", str(self.dir)) for line in extra_config),
        ]
        self.config_path.write_text("\n".join(lines) + "\n")
        self._proc: subprocess.Popen[bytes] | None = None
        self._paused = False
        self._log_file = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        self._log_file = open(self.log_path, "ab")  # closed in stop()
        self._proc = subprocess.Popen([self.binary, "-c", str(self.config_path)],
                                      stdout=self._log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                self._close_log()
                pytest.fail(f"mosquitto exited with {self._proc.returncode} on start:\n"
                            f"{self.log_text()[-2000:]}", pytrace=False)
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"mosquitto did not accept connections on port {self.port} "
                                f"within {timeout} s:\n{self.log_text()[-2000:]}", pytrace=False)
                time.sleep(0.02)  # polling a port under an explicit deadline

    def stop(self, timeout: float = 5.0) -> None:
        """Graceful stop (SIGTERM), SIGKILL if it does not exit within ``timeout``."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        self._signal(signal.SIGKILL, 5.0)

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: the broker goes silent without closing any connection."""
        assert self._proc is not None and self._proc.poll() is None, "broker not running"
        self._proc.send_signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """SIGCONT after ``pause``."""
        if self._proc is not None and self._paused:
            self._proc.send_signal(signal.SIGCONT)
        self._paused = False

    def _signal(self, sig: int, timeout: float) -> None:
        self.resume()  # a stopped process would not act on SIGTERM
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., MosquittoBroker]]:
    """Build (and start, unless ``start=False``) extra brokers with custom config."""
    brokers: list[MosquittoBroker] = []

    def make(*, extra_config: Sequence[str] = (), files: Mapping[str, str | bytes] | None = None,
             allow_anonymous: bool = True, persistence: bool = False,
             start: bool = True) -> MosquittoBroker:
        broker = MosquittoBroker(tmp_path / f"mosquitto-{len(brokers)}", extra_config=extra_config,
                                 files=files, allow_anonymous=allow_anonymous,
                                 persistence=persistence)
        brokers.append(broker)
        if start:
            broker.start()
        return broker

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    """A started Mosquitto on 127.0.0.1:<free port>; ``.stop()``/``.start()`` keep the port."""
    return mosquitto_factory()


@pytest.fixture
def frozen_heap() -> Iterator[None]:
    """For a test whose simulated rig shares the test's event loop and is timed to tens of ms.

    Late in a full run the pytest process holds what every earlier test left
    behind, and one full garbage collection over it took 165 to 257 ms (measured
    over a whole run): longer than a conformance check's tolerance and than the
    link's 250 ms liveness limit, a stall the rig software's own small processes
    never see. The heap is collected and frozen (``gc.freeze``: later
    collections skip what existed before the test) and unfrozen afterwards.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.fixture
def small_filesystem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A real 1.5 MB tmpfs (as root) that the test fills or remounts read-only
    (``tests.small_fs.SmallFilesystem``); unmounted at the end."""
    from tests.small_fs import SmallFilesystem

    fs = SmallFilesystem(tmp_path / "card", monkeypatch)
    try:
        yield fs
    finally:
        fs.close()
