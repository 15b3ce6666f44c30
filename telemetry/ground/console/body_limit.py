"""Request body limits, enforced while the body is read and before anything else runs.

:class:`BodyLimit` is the outermost ASGI middleware of the console. For an HTTP
request it refuses a ``Content-Length`` over the route's limit at once (413,
nothing read), and otherwise reads the body itself, chunk by chunk, stopping
with 413 as soon as the total passes the limit, so an attacker's 300 MB POST
costs at most ``limit`` bytes of memory, logged in or not. A body within the
limit is handed to the app whole. WebSocket messages are bounded by the server
(``uvicorn``'s ``ws_max_size``, set to :data:`WS_MAX_BYTES` by ``serve``) and again
by the endpoint.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["API_MAX_BYTES", "FORM_MAX_BYTES", "WS_MAX_BYTES", "BodyLimit", "limit_for"]

FORM_MAX_BYTES = 4096  # /login, /logout: a name, a password, a token
API_MAX_BYTES = 8192  # JSON commands and replay controls
WS_MAX_BYTES = 4096  # a page's subscription message


def limit_for(path: str) -> int:
    """The largest body accepted on ``path``, in bytes."""
    return API_MAX_BYTES if path.startswith("/api/") else FORM_MAX_BYTES


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope.get("path", ""))
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _too_large(send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Send, limit: int) -> None:
    body = f'{{"error":"request body too large: expected at most {limit} bytes"}}'.encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
