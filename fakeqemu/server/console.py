"""Serial consoles on sockets (``-serial unix:...``, ``-serial chardev:ID``): there is no guest to print
anything, so a client is accepted, what it types is read and dropped, and nothing is written, as from a
QEMU whose guest is silent."""

from __future__ import annotations

import trio

from fakeqemu.server.driver import Acceptor, Closed, Link, RawData, SocketTransport, accept_loop, serve_connection


class ConsolePort:
    wants_fds = False

    def connected(self, link: Link) -> None:
        pass

    async def handle(self, event: RawData | Closed) -> None:
        pass


async def serve_console(listener: Acceptor | None, name: str, first: trio.socket.SocketType | None = None) -> None:
    async def serve(sock: trio.socket.SocketType, greeted: bool) -> None:
        await serve_connection(SocketTransport(sock), ConsolePort(), name)

    await accept_loop(listener, name, serve, first)
