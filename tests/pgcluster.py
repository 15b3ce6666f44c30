"""A throwaway PostgreSQL cluster on a free loopback port (tests and benchmarks).

``PostgresCluster().start()`` runs ``initdb`` into a fresh temporary directory and
starts ``postgres`` on 127.0.0.1:<free port> (trust authentication, superuser
``rig``); ``create_database()`` gives a URL to a new empty database; ``stop()``
shuts it down and deletes the directory. PostgreSQL refuses to run as root, so
under root the server runs as the ``postgres`` user (created by Debian's package)
or ``nobody``, and the directory is handed to that user.

Binaries are looked for in ``$PG_BINDIR``, ``/usr/lib/postgresql/<newest>/bin``
and ``$PATH``; ``scripts/ensure-postgresql.sh`` installs them. Failures raise
:class:`PostgresUnavailable` with the server log attached.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PostgresCluster", "PostgresUnavailable", "find_pg_bindir"]


class PostgresUnavailable(RuntimeError):
    pass


def find_pg_bindir() -> Path:
    explicit = os.environ.get("PG_BINDIR")
    candidates = [Path(explicit)] if explicit else []
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                      key=lambda p: [int(x) for x in re.findall(r"\d+", p)], reverse=True)
    candidates += [Path(p) for p in versions]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for d in candidates:
        if (d / "initdb").is_file() and (d / "postgres").is_file():
            return d
    raise PostgresUnavailable(
        "the PostgreSQL server (initdb, postgres) was not found (tried $PG_BINDIR, "
        "/usr/lib/postgresql/*/bin, $PATH): run scripts/ensure-postgresql.sh")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresUnavailable("running as root and neither a 'postgres' nor a 'nobody' user "
                              "exists to run the server as")


class PostgresCluster:
    host = "127.0.0.1"
    superuser = "rig"

    def __init__(self, *, durable: bool = False, settings: dict[str, str] | None = None) -> None:
        self.bindir = find_pg_bindir()
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="rig-pg-"))
        self.data = self.dir / "data"
        self.log_path = self.dir / "postgres.log"
        self._user = _run_user()
        self._durable = durable
        self._settings = settings or {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._databases = 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.superuser}@{self.host}:{self.port}/{database}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _popen_user(self) -> dict[str, object]:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}

    def start(self, timeout: float = 60.0) -> None:
        if self._user is not None:
            os.chown(self.dir, self._user.pw_uid, self._user.pw_gid)
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        init = subprocess.run(
            [str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.superuser,
             "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync"],
            capture_output=True, cwd=self.dir, env=env, **self._popen_user())  # type: ignore[call-overload]
        if init.returncode != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise PostgresUnavailable(f"initdb failed ({init.returncode}):\n"
                                      f"{init.stdout.decode()[-2000:]}{init.stderr.decode()[-2000:]}")
        options = {"listen_addresses": self.host, "port": str(self.port),
                   "unix_socket_directories": str(self.dir), "max_connections": "200",
                   **({} if self._durable else {"fsync": "off", "full_page_writes": "off",
                                                "synchronous_commit": "off"}),
                   **self._settings}
        args = [str(self.bindir / "postgres"), "-D", str(self.data)]
        for k, v in options.items():
            args += ["-c", f"{k}={v}"]
        log = open(self.log_path, "ab")  # the child keeps its own descriptor
        try:
            self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                          cwd=self.dir, env=env, **self._popen_user())  # type: ignore[call-overload]
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        pid_file = self.data / "postmaster.pid"
        while True:  # postmaster.pid's 8th line says "ready" once it takes connections
            if self._proc.poll() is not None:
                code, log_text = self._proc.returncode, self.log_text()[-3000:]
                self.stop()  # removes the directory
                raise PostgresUnavailable(f"postgres exited with {code} on start:\n{log_text}")
            try:
                lines = pid_file.read_text().splitlines()
            except OSError:
                lines = []
            if len(lines) >= 8 and lines[7].strip() == "ready":
                return
            if time.monotonic() > deadline:
                log_text = self.log_text()[-3000:]
                self.stop()
                raise PostgresUnavailable(f"postgres not ready within {timeout} s:\n{log_text}")
            time.sleep(0.05)  # polling a file under an explicit deadline

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL."""
        self._databases += 1
        name = name or f"rig_test_{self._databases}"
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def execute(self, sql: str, database: str = "postgres") -> None:
        async def go() -> None:
            import asyncpg

            conn = await asyncpg.connect(self.url(database))
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # callable inside a loop too
            pool.submit(asyncio.run, go()).result()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def stop(self, timeout: float = 20.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # "fast" shutdown
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)
        shutil.rmtree(self.dir, ignore_errors=True)
