"""A listen= socket netdev under the runtime: its connection is accepted, a peer that goes is seen, and
a reset VM (fakeqemu's reset: a new machine) listens on the same port again."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

import trio

from fakeqemu.machine.machine import MachineConfig
from fakeqemu.machine.net.announce import AnnounceParameters
from fakeqemu.machine.net.sockets import NetSocket
from fakeqemu.server.vm import VM, VMConfig


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _net(vm: VM) -> NetSocket:
    net: NetSocket = vm.machine.backends.netdevs["l0"]["socket"]
    return net


async def _until(check: Callable[[], bool]) -> None:
    """Yield to the VM's tasks until ``check`` holds (each checkpoint lets trio poll the sockets)."""
    with trio.fail_after(20):
        while not check():
            await trio.lowlevel.checkpoint()


async def _frame(peer: trio.socket.SocketType) -> bytes:
    data = b""
    with trio.fail_after(20):
        while len(data) < 64:
            data += await peer.recv(64 - len(data))
    (n,) = struct.unpack(">I", data[:4])
    assert n == 60
    return data[4:]


async def test_listen_accepts_sees_a_peer_go_and_listens_again_after_a_reset() -> None:
    port = _free_port()
    cfg = MachineConfig(
        machine_type="pc",
        qtest=True,
        netdevs=[{"type": "socket", "listen": f"127.0.0.1:{port}", "id": "l0"}],
        devices=[{"driver": "e1000", "netdev": "l0", "id": "n0", "mac": "52:54:00:12:34:56"}],
    )
    vm = VM(VMConfig(machine=cfg))
    vm._new_machine()
    params = {"initial": 1, "max": 1, "rounds": 1, "step": 1}
    try:
        async with trio.open_nursery() as nursery:
            vm._nursery = nursery  # what VM.run does, then it serves the sockets
            for net in vm.machine.backends.sockets():
                vm._net_open(net)
            peer = trio.socket.socket()
            await peer.connect(("127.0.0.1", port))
            await _until(lambda: _net(vm).sock is not None)
            vm.machine.announcer.announce_self(AnnounceParameters.from_args(params))
            assert (await _frame(peer))[6:12] == bytes.fromhex("525400123456")
            peer.close()
            await _until(lambda: _net(vm).sock is None)
            assert _net(vm).info == "" and _net(vm).listener is not None
            vm.reset()
            again = trio.socket.socket()
            await again.connect(("127.0.0.1", port))
            await _until(lambda: _net(vm).sock is not None)
            vm.machine.announcer.announce_self(AnnounceParameters.from_args(params))
            assert len(await _frame(again)) == 60
            again.close()
            nursery.cancel_scope.cancel()
    finally:
        vm.machine.close()
