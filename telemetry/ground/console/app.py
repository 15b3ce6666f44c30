"""Assemble the console: the Starlette app, its lifespan, its security headers.

``build_console(config, client)`` wires the live objects; ``build_app(console)``
the routes. The lifespan starts the ground client's connection (without
waiting for the broker: the console is useful, and says "link down", while the
broker is away) and the hub's pushes, and stops both on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from importlib import resources

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telemetry.ground.client import GroundClient
from telemetry.ground.console import api, pages
from telemetry.ground.console.body_limit import BodyLimit
from telemetry.ground.console.context import AuditLog, Console, ConsoleConfig
from telemetry.ground.console.hub import Hub
from telemetry.ground.console.login import Authenticator
from telemetry.ground.console.login_guard import LoginGuard
from telemetry.ground.console.sessions import SessionStore
from telemetry.ground.console.users import UserStore
from telemetry.ground.console.views import LedgerVerifier

__all__ = ["build_app", "build_console"]

_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
     b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
     b"form-action 'self'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """Adds the headers above to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in _HEADERS if k not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def build_console(config: ConsoleConfig, client: GroundClient, *, secret: bytes,
                  clock: Callable[[], float] = time.time) -> Console:
    verifier = LedgerVerifier(config.rover_key, config.quotas_kg, {})
    hub = Hub(client.model, verifier, clock=clock)
    client.add_listener(hub.on_live)
    users = UserStore(config.users_path)
    sessions = SessionStore(secret, secure=config.tls)
    auth = Authenticator(users, sessions, LoginGuard(config.login_limits))
    return Console(config, client, users, sessions, auth, hub, AuditLog(config.audit_log),
                   clock)


def build_app(console: Console) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await console.client.start(wait=False)
        pusher = asyncio.create_task(console.hub.run(), name="console-hub")
        try:
            yield
        finally:
            pusher.cancel()
            for task in [pusher, *console.tasks]:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await console.client.close()
            console.auth.close()

    static = str(resources.files("telemetry.ground.console").joinpath("static"))
    routes: list = [
        Route("/login", pages.login_form(console), methods=["GET"]),
        Route("/login", pages.login_submit(console), methods=["POST"]),
        Route("/logout", pages.logout(console), methods=["POST"]),
        Route("/", pages.page(console, "fleet")),
        Route("/alarms", pages.page(console, "alarms")),
        Route("/log", pages.page(console, "log")),
        Route("/replay", pages.page(console, "replay")),
        Route("/rigs/{rig}", pages.page(console, "rig")),
        Route("/rigs/{rig}/commands", pages.page(console, "commands")),
        Route("/rigs/{rig}/ledger", pages.page(console, "ledger")),
        Route("/rigs/{rig}/map", pages.page(console, "map")),
        *(Route(path, endpoint, methods=methods)
          for path, endpoint, methods in api.routes_api(console)),
        WebSocketRoute("/ws", api.websocket_endpoint(console)),
        Mount("/static", StaticFiles(directory=static), name="static"),
    ]
    # the body limit runs before routing and authentication; the headers wrap even its 413
    return Starlette(routes=routes,
                     middleware=[Middleware(SecurityHeaders), Middleware(BodyLimit)],
                     lifespan=lifespan)
