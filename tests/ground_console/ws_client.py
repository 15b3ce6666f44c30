"""A minimal WebSocket client over asyncio streams and wsproto (the server's own library).

Enough to open the console's ``/ws`` with a cookie, send a text message, and
read messages until the server closes: ``closed_code`` is the close code it sent.
"""

from __future__ import annotations

import asyncio

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    RejectConnection,
    Request,
    TextMessage,
)


class WsClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 conn: WSConnection) -> None:
        self.reader, self.writer, self.conn = reader, writer, conn
        self.closed_code: int | None = None
        self._text: list[str] = []
        self._partial = ""

    def _take(self, event: object) -> None:
        if isinstance(event, TextMessage):
            self._partial += event.data
            if event.message_finished:
                self._text.append(self._partial)
                self._partial = ""
        elif isinstance(event, CloseConnection):
            self.closed_code = event.code

    @classmethod
    async def open(cls, port: int, cookie: str, *, path: str = "/ws",
                   origin: str | None = None) -> WsClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = WSConnection(ConnectionType.CLIENT)
        headers = [(b"cookie", cookie.encode()),
                   (b"origin", (origin or f"http://127.0.0.1:{port}").encode())]
        writer.write(conn.send(Request(host=f"127.0.0.1:{port}", target=path,
                                       extra_headers=headers)))
        client = cls(reader, writer, conn)
        while True:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("closed during the handshake")
            conn.receive_data(data)
            for event in conn.events():
                if isinstance(event, AcceptConnection):
                    return client
                if isinstance(event, RejectConnection):
                    raise ConnectionRefusedError(f"rejected with {event.status_code}")

    async def send_text(self, text: str) -> None:
        self.writer.write(self.conn.send(Message(data=text)))
        await self.writer.drain()

    async def until_closed(self, timeout: float) -> int | None:
        """Read (and keep) messages until the server closes; its close code."""
        async with asyncio.timeout(timeout):
            while self.closed_code is None:
                data = await self.reader.read(65536)
                if not data:
                    break
                self.conn.receive_data(data)
                for event in self.conn.events():
                    self._take(event)
        self.writer.close()
        return self.closed_code

    async def next_text(self, timeout: float) -> str:
        async with asyncio.timeout(timeout):
            while not self._text:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("closed")
                self.conn.receive_data(data)
                for event in self.conn.events():
                    self._take(event)
                if self.closed_code is not None and not self._text:
                    raise ConnectionError(f"closed with {self.closed_code}")
        return self._text.pop(0)
