"""A wrong-password login flood against a running console, and commands timed under it.

Used by the functional test (``test_login_flood.py``) and the benchmark
(``bench/bench_login_flood.py``), so both measure the same thing. Everything
goes over real loopback HTTP with ``http.client``: ``clients`` threads each post
wrong passwords for ``operator`` in a loop (every response counted by status);
meanwhile an operator already logged in sends commands and each is timed from
request to response (the response carries the rover's ack).
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
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


@dataclass
class Flood:
    """``clients`` threads posting wrong passwords until ``stop()``."""

    port: int
    user: str
    clients: int = 40
    statuses: Counter[int] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for i in range(self.clients):
            t = threading.Thread(target=self._run, name=f"flood-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def _run(self) -> None:
        attacker = HttpUser(self.port, timeout=60.0)
        token = attacker.login_form()
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                status = attacker.login(self.user, f"wrong-password-{n}", token)
            except OSError:
                status = 0
            with self._lock:
                self.statuses[status] += 1

    def stop(self) -> dict[int, int]:
        self._stop.set()
        for t in self._threads:
            t.join(65.0)
        return dict(self.statuses)


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
