"""Human monitors (``-monitor unix:...``, ``-mon chardev=X,mode=readline``): the protocol object the
connection driver feeds for each client; each line runs through the same HMP commands as QMP's
human-monitor-command."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from fakeqemu.commands.hmp import run as run_hmp
from fakeqemu.protocols.readline import Readline, banner
from fakeqemu.server.driver import Acceptor, Closed, Link, RawData, SocketTransport, accept_loop, serve_connection

if TYPE_CHECKING:
    from fakeqemu.server.vm import VM


class HMPMonitor:
    wants_fds = False

    def __init__(self, vm: VM, greeted: bool) -> None:
        self.vm = vm
        self.greeted = greeted
        self.readline = Readline(lambda line: run_hmp(vm.machine, line, self))
        self.link: Link | None = None

    def connected(self, link: Link) -> None:
        self.link = link
        if not self.greeted:
            link.send(banner(".".join(map(str, self.vm.machine.config.qemu_version))))

    async def handle(self, event: RawData | Closed) -> None:
        if isinstance(event, RawData) and self.link is not None:
            out = self.readline.feed(event.data)
            if out:
                self.link.send(out)


async def serve_hmp(
    vm: VM,
    listener: Acceptor | None,
    name: str,
    first: trio.socket.SocketType | None = None,
    greeted: bool = False,
) -> None:
    async def serve(sock: trio.socket.SocketType, greeted: bool) -> None:
        await serve_connection(SocketTransport(sock), HMPMonitor(vm, greeted), name)

    await accept_loop(listener, name, serve, first, greeted)
