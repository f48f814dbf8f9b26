"""Human monitors (``-monitor unix:...``, ``-mon chardev=X,mode=readline``): one client at a time, as
QEMU serves them, each line run through the same HMP commands as QMP's human-monitor-command."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from fakeqemu.commands.hmp import run as run_hmp
from fakeqemu.protocols.readline import Readline, banner
from fakeqemu.server.monitor import serve_one_at_a_time

if TYPE_CHECKING:
    from fakeqemu.server.vm import VM


def _banner(vm: VM) -> bytes:
    return banner(".".join(map(str, vm.machine.config.qemu_version)))


async def _send_all(sock: trio.socket.SocketType, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[await sock.send(view) :]


async def _serve_client(vm: VM, sock: trio.socket.SocketType, greeted: bool) -> None:
    rl = Readline(lambda line: run_hmp(vm.machine, line))
    with sock:
        try:
            if not greeted:
                await _send_all(sock, _banner(vm))
            while True:
                data = await sock.recv(65536)
                if not data:
                    return
                out = rl.feed(data)
                if out:
                    await _send_all(sock, out)
        except OSError:
            return


async def serve_hmp(
    vm: VM, listener: trio.socket.SocketType, name: str, early: trio.socket.SocketType | None = None
) -> None:
    async def serve(sock: trio.socket.SocketType, greeted: bool) -> None:
        await _serve_client(vm, sock, greeted)

    await serve_one_at_a_time(listener, name, early, serve)
