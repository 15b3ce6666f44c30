"""A wrong-password login flood against a running console, and commands timed under it.

Used by the functional test (``test_login_flood.py``) and the benchmark
(``bench/bench_login_flood.py``), so both measure the same thing. Everything
goes over real loopback HTTP with ``http.client``: ``clients`` threads, in a
process of their own, each post wrong passwords for the operator's name in a
loop (every response counted by status);
meanwhile an operator already logged in sends commands and each is timed from
request to response (the response carries the rover's ack).
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode


class HttpUser:
    """Cookies and requests, enough to log in and send commands (blocking)."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port = port
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request(method, path, body, {**(headers or {}),
                                              **({"Cookie": cookie} if cookie else {})})
            res = conn.getresponse()
            data = res.read()
            for line in res.headers.get_all("set-cookie") or []:
                name, _, rest = line.partition("=")
                value = rest.split(";", 1)[0].strip('"')
                if "max-age=0" in line.lower() or not value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value
            return res.status, data
        finally:
            conn.close()

    def login_form(self) -> str:
        _, page = self.request("GET", "/login")
        found = re.search(rb'name="csrf" value="([^"]+)"', page)
        assert found, "no login form"
        return found.group(1).decode()

    def login(self, user: str, password: str, token: str | None = None) -> int:
        form = urlencode({"username": user, "password": password,
                          "csrf": token or self.login_form()}).encode()
        status, _ = self.request("POST", "/login", form,
                                 {"Content-Type": "application/x-www-form-urlencoded"})
        if status == 303:
            _, page = self.request("GET", "/")
            found = re.search(rb'name="csrf-token" content="([^"]+)"', page)
            self.csrf = found.group(1).decode() if found else ""
        return status

    def command(self, rig: str, command: str) -> tuple[int, dict, float]:
        """(HTTP status, response JSON, seconds from request to response)."""
        t0 = time.monotonic()
        status, body = self.request(
            "POST", f"/api/rigs/{rig}/commands", json.dumps({"command": command}).encode(),
            {"Content-Type": "application/json", "X-CSRF-Token": self.csrf})
        return status, json.loads(body), time.monotonic() - t0


class Flood:
    """``clients`` threads posting wrong passwords, in a process of their own (as attackers
    are: they must not share the measuring process's interpreter lock), until ``stop()``."""

    def __init__(self, port: int, user: str, clients: int = 40) -> None:
        self.port, self.user, self.clients = port, user, clients
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.ground_console.flood", str(self.port), self.user,
             str(self.clients)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parents[2])
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()  # "started" once every client has its form
        assert line.startswith("started"), line

    def progress(self) -> int:
        """Attempts answered so far (asks the flood process)."""
        assert self._proc is not None and self._proc.stdin and self._proc.stdout
        self._proc.stdin.write("count\n")
        self._proc.stdin.flush()
        return int(self._proc.stdout.readline())

    def stop(self) -> dict[int, int]:
        """Stop it; the number of responses by HTTP status (0: no response)."""
        assert self._proc is not None and self._proc.stdin and self._proc.stdout
        self._proc.stdin.write("stop\n")
        self._proc.stdin.flush()
        counts = json.loads(self._proc.stdout.readline())
        self._proc.wait(70)
        return {int(k): v for k, v in counts.items()}


def _flood_main(port: int, user: str, clients: int) -> None:
    statuses: Counter[int] = Counter()
    lock, stop = threading.Lock(), threading.Event()
    ready = threading.Barrier(clients + 1)

    def attack() -> None:
        attacker = HttpUser(port, timeout=60.0)
        token = attacker.login_form()
        form_cookie = dict(attacker.cookies)
        ready.wait()
        n = 0
        while not stop.is_set():
            n += 1
            attacker.cookies = dict(form_cookie)  # the form's token and cookie, reused
            try:
                status = attacker.login(user, f"wrong-password-{n}", token)
            except OSError:
                status = 0
            with lock:
                statuses[status] += 1

    threads = [threading.Thread(target=attack, name=f"flood-{i}", daemon=True)
               for i in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    print("started", flush=True)
    for line in sys.stdin:
        if line.strip() == "count":
            with lock:
                print(sum(statuses.values()), flush=True)
        elif line.strip() == "stop":
            break
    stop.set()
    for t in threads:
        t.join(65.0)
    print(json.dumps(dict(statuses)), flush=True)


def timed_commands(user: HttpUser, rig: str, command: str, count: int,
                   interval_s: float) -> list[float]:
    """Send ``command`` ``count`` times; each one's seconds to an accepted ack."""
    latencies = []
    for _ in range(count):
        status, body, seconds = user.command(rig, command)
        assert status == 200 and body.get("status") == "accepted", (status, body)
        latencies.append(seconds)
        time.sleep(interval_s)  # paces the commands; the timing is of each request alone
    return latencies


if __name__ == "__main__":
    _flood_main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
