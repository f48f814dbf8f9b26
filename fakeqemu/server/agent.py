"""The host side of the guest agent's chardev: one client at a time (libvirt), bytes to and from the guest's
end of the port (fakeqemu.protocols.agent.AgentChannel, which lives as long as the VM's machine). A protocol
object on the connection driver (fakeqemu.server.driver)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from fakeqemu.server.driver import Closed, Link, RawData, SocketTransport, accept_loop, serve_connection

if TYPE_CHECKING:
    from fakeqemu.server.vm import VM


class AgentPort:
    """One host connection to the agent's chardev, fed the bytes the host writes."""

    wants_fds = False

    def __init__(self, vm: VM, chardev: str) -> None:
        self.vm = vm
        self.chardev = chardev
        self.link: Link | None = None

    def _send(self, data: bytes) -> None:
        if self.link is not None:
            self.link.send(data)

    def connected(self, link: Link) -> None:
        self.link = link
        self.vm.config.machine.connected_chardevs.add(self.chardev)
        channel = self.vm.agent_channel
        if channel is not None:
            channel.output = self._send

    async def handle(self, event: RawData | Closed) -> None:
        channel = self.vm.agent_channel
        if isinstance(event, RawData):
            if channel is not None:
                channel.feed(event.data)
            return
        self.vm.config.machine.connected_chardevs.discard(self.chardev)
        if channel is not None and channel.output == self._send:
            channel.output = None


async def serve_agent(vm: VM, listener: trio.socket.SocketType, chardev: str) -> None:
    async def serve(sock: trio.socket.SocketType, greeted: bool) -> None:
        await serve_connection(SocketTransport(sock), AgentPort(vm, chardev), f"agent:{chardev}")

    await accept_loop(listener, f"agent:{chardev}", serve)
