"""A TCP proxy on 127.0.0.1 that the test can cut: a database "outage" without touching the server.

`down()` closes every proxied connection and refuses new ones (accepted, then closed at once,
as a restarting PostgreSQL does to clients); `up()` lets connections through again. The bytes
in between are passed unchanged, so the real driver speaks the real protocol to the real server.
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = 0
        self.accepting = True
        self.refused = 0  # connections turned away while down
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> "TcpProxy":
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.down()
        self._server.close()
        await self._server.wait_closed()

    def down(self) -> None:
        self.accepting = False
        for w in list(self._links):
            w.transport.abort()
        self._links.clear()

    def up(self) -> None:
        self.accepting = True

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass  # the other side went away (or down() cut it): nothing to forward
        finally:
            self._links.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()
