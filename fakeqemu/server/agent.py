"""The host side of the guest agent's chardev: one client at a time (libvirt), bytes to and from the guest's
end of the port (fakeqemu.protocols.agent.AgentChannel, which lives as long as the VM's machine)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from fakeqemu.server.monitor import serve_one_at_a_time

if TYPE_CHECKING:
    from fakeqemu.server.vm import VM

READ_SIZE = 65536


class AgentPort:
    """One host connection to the agent's chardev: a protocol object, fed the bytes the host writes."""

    def __init__(self, vm: VM, chardev: str) -> None:
        self.vm = vm
        self.chardev = chardev
        self.out: list[bytes] = []
        self.wake = trio.Event()

    def _send(self, data: bytes) -> None:
        self.out.append(data)
        self.wake.set()

    def connected(self) -> None:
        self.vm.config.machine.connected_chardevs.add(self.chardev)
        channel = self.vm.agent_channel
        if channel is not None:
            channel.output = self._send

    def data(self, data: bytes) -> None:
        channel = self.vm.agent_channel
        if channel is not None:
            channel.feed(data)

    def closed(self) -> None:
        self.vm.config.machine.connected_chardevs.discard(self.chardev)
        channel = self.vm.agent_channel
        if channel is not None and channel.output == self._send:
            channel.output = None


async def serve_agent(vm: VM, listener: trio.socket.SocketType, chardev: str) -> None:
    async def serve(sock: trio.socket.SocketType, greeted: bool) -> None:
        port = AgentPort(vm, chardev)
        port.connected()

        async def writer() -> None:
            while True:
                await port.wake.wait()
                port.wake = trio.Event()
                while port.out:
                    view = memoryview(b"".join(port.out))
                    port.out.clear()
                    while view:
                        view = view[await sock.send(view) :]

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(writer)
                while True:
                    data = await sock.recv(READ_SIZE)
                    if not data:
                        break
                    port.data(data)
                nursery.cancel_scope.cancel()
        except OSError:
            pass
        finally:
            port.closed()
            sock.close()

    await serve_one_at_a_time(listener, f"agent:{chardev}", None, serve)
