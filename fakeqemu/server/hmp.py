"""Human monitors (``-monitor unix:...``, ``-mon chardev=X,mode=readline``): one client at a time, as
QEMU serves them, each line run through the same HMP commands as QMP's human-monitor-command."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from fakeqemu.commands.hmp import run as run_hmp
from fakeqemu.commands.readline import Readline

if TYPE_CHECKING:
    from fakeqemu.server.vm import VM

log = logging.getLogger("fakeqemu.hmp")


def banner(vm: VM) -> bytes:
    major, minor, micro = vm.machine.config.qemu_version
    return Readline(lambda line: "").banner(f"{major}.{minor}.{micro}")


async def _send_all(sock: trio.socket.SocketType, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[await sock.send(view) :]


async def _serve_client(vm: VM, sock: trio.socket.SocketType, greeted: bool) -> None:
    rl = Readline(lambda line: run_hmp(vm.machine, line))
    with sock:
        try:
            if not greeted:
                await _send_all(sock, banner(vm))
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
    try:
        while True:
            if early is not None:
                sock, greeted, early = early, True, None
            else:
                sock, _ = await listener.accept()
                greeted = False
            try:
                await _serve_client(vm, sock, greeted)
            except Exception:  # one broken connection must not take the VM down
                log.exception("%s: connection failed", name)
    finally:
        listener.close()
