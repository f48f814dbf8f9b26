"""The first commands answered before the runtime runs (fakeqemu.server.early), and the hand-over to the VM:
nothing lost, nothing reordered, fds that came early still reach the command that takes them."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import pytest
import trio

from fakeqemu.machine.machine import Machine, MachineConfig
from fakeqemu.qmp.session import greeting_bytes
from fakeqemu.server.early import EarlyQMP
from fakeqemu.server.prestart import EarlyGreeter
from fakeqemu.server.vm import VM, VMConfig
from tests.server.lines import read_line

STATUS = b'{"return": {"status": "prelaunch", "singlestep": false, "running": false}}'


@pytest.fixture
def early() -> Iterator[tuple[socket.socket, EarlyGreeter, VMConfig]]:
    """A paused VM's monitor on a socketpair (``fd=N``: the one client), greeted and answered early."""
    cfg = MachineConfig(paused=True)
    machine = Machine(cfg)
    srv, client = socket.socketpair()
    client.settimeout(20)
    greeter = EarlyGreeter([srv], [greeting_bytes(cfg.qemu_version, cfg.package)], [True])
    greeter.start()
    greeter.answer_with(lambda: EarlyQMP.start(machine))
    config = VMConfig(machine=cfg, listeners=[srv], built=machine)
    try:
        yield client, greeter, config
    finally:
        client.close()
        srv.close()


async def _serve_rest(greeter: EarlyGreeter, config: VMConfig) -> VM:
    config.early = greeter.stop()
    config.answered = greeter.answered
    return VM(config)


async def test_pipelined_commands_carry_on_in_order_after_the_hand_over(
    early: tuple[socket.socket, EarlyGreeter, VMConfig],
) -> None:
    client, greeter, config = early
    sock = trio.socket.from_stdlib_socket(client)
    buf = bytearray()
    assert (await read_line(sock, buf)).startswith(b'{"QMP": {"version": ')
    # negotiation and query-status are answered early; query-chardev is left to the VM, with what follows
    # it (a query-status cut in two)
    await sock.send(
        b'{"execute":"qmp_capabilities"}{"execute":"query-status"}{"execute":"query-chardev"}{"execute":"query-sta'
    )
    assert await read_line(sock, buf) == b'{"return": {}}'
    assert await read_line(sock, buf) == STATUS
    vm = await _serve_rest(greeter, config)
    assert vm.config.answered[0].pending  # query-chardev was left to the VM
    async with trio.open_nursery() as nursery:
        await nursery.start(vm.run)
        with trio.fail_after(20):
            assert (await read_line(sock, buf)).startswith(b'{"return": [')
            await sock.send(b'tus"}{"execute":"stop"}{"execute":"query-name"}')
            assert await read_line(sock, buf) == STATUS
            assert await read_line(sock, buf) == b'{"return": {}}'
            assert await read_line(sock, buf) == b'{"return": {}}'
        nursery.cancel_scope.cancel()


async def test_fds_sent_early_reach_the_command_that_takes_them(
    early: tuple[socket.socket, EarlyGreeter, VMConfig],
) -> None:
    client, greeter, config = early
    sock = trio.socket.from_stdlib_socket(client)
    buf = bytearray()
    await read_line(sock, buf)
    await sock.send(b'{"execute":"qmp_capabilities"}')
    assert await read_line(sock, buf) == b'{"return": {}}'
    r, w = os.pipe()
    try:
        socket.send_fds(client, [b'{"execute":"getfd","arguments":{"fdname":"early"}}'], [r])
    finally:
        os.close(r)
        os.close(w)
    answered = greeter.answered[0]
    deadline = time.monotonic() + 20
    while not answered.done:  # the early thread takes the message and its fd, and leaves both to the VM
        assert time.monotonic() < deadline
        await trio.sleep(0.001)
    assert answered.fds and not answered.pending
    vm = await _serve_rest(greeter, config)
    async with trio.open_nursery() as nursery:
        await nursery.start(vm.run)
        with trio.fail_after(20):
            assert await read_line(sock, buf) == b'{"return": {}}'
            await sock.send(b'{"execute":"closefd","arguments":{"fdname":"early"}}')
            assert await read_line(sock, buf) == b'{"return": {}}'
        nursery.cancel_scope.cancel()


def test_replies_the_socket_does_not_take_wait_for_the_monitor() -> None:
    machine = Machine(MachineConfig())
    srv, client = socket.socketpair()
    try:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        early = EarlyQMP.start(machine)
        early.send(srv, b"x" * (1 << 20))
        assert early.done
        assert 0 < len(early.unsent) < 1 << 20
    finally:
        srv.close()
        client.close()
