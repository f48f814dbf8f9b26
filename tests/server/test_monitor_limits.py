"""A client that never reads: its pending output is capped and it is disconnected, others carry on."""

from __future__ import annotations

import logging
import socket

import pytest
import trio

from fakeqemu.machine.machine import MachineConfig
from fakeqemu.server import driver
from fakeqemu.server.driver import SocketTransport, serve_connection
from fakeqemu.server.monitor import QMPMonitor
from fakeqemu.server.vm import VM, VMConfig
from tests.server.lines import read_line as _line


async def test_pending_output_is_capped_and_the_reader_keeps_working(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(driver, "MAX_PENDING_OUTPUT", 256 * 1024)
    vm = VM(VMConfig(machine=MachineConfig(paused=True)))
    vm._new_machine()  # what VM.run does first
    lazy_srv, lazy = trio.socket.socketpair()
    busy_srv, busy = trio.socket.socketpair()
    for s in (lazy_srv, lazy):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lazy_conn = QMPMonitor(vm, "lazy")
    busy_conn = QMPMonitor(vm, "busy")
    caplog.set_level(logging.WARNING, logger="fakeqemu")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_connection, SocketTransport(lazy_srv), lazy_conn, "lazy")
        nursery.start_soon(serve_connection, SocketTransport(busy_srv), busy_conn, "busy")
        lbuf, bbuf = bytearray(), bytearray()
        for sock, buf in ((lazy, lbuf), (busy, bbuf)):
            assert (await _line(sock, buf)).startswith(b'{"QMP"')
            await sock.send(b'{"execute":"qmp_capabilities"}')
            assert await _line(sock, buf) == b'{"return": {}}'
        # the lazy client stops reading; events pile up for it
        with trio.fail_after(20):
            while not lazy_conn.closed:
                await busy.send(b'{"execute":"system_reset"}')
                while await _line(busy, bbuf) != b'{"return": {}}':
                    pass
        await busy.send(b'{"execute":"query-kvm"}')
        while (line := await _line(busy, bbuf)).startswith(b'{"timestamp"'):
            pass
        assert line == b'{"return": {"enabled": false, "present": true}}'
        assert any("reads nothing" in r.getMessage() for r in caplog.records)
        nursery.cancel_scope.cancel()
    lazy.close()
    busy.close()


@pytest.mark.parametrize("count", [1500, 6000])  # one short read (the VM's thread parses it), one big (a worker)
async def test_a_run_of_parse_errors_is_one_send(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """Stray closing brackets answer one error each, byte for byte, but the VM's thread queues the run as
    one write, not one per error (a client's heavy input stays cheap for the others)."""
    sends: list[int] = []
    real_send = driver.Link.send

    def counting_send(self: driver.Link, data: bytes, *, bulk: bool = False) -> None:
        sends.append(len(data))
        real_send(self, data, bulk=bulk)

    monkeypatch.setattr(driver.Link, "send", counting_send)
    vm = VM(VMConfig(machine=MachineConfig(paused=True)))
    vm._new_machine()
    srv, client = trio.socket.socketpair()
    conn = QMPMonitor(vm, "heavy")
    with client:
        await _serve_heavy(srv, client, conn, sends, count)


async def _serve_heavy(
    srv: trio.socket.SocketType, client: trio.socket.SocketType, conn: QMPMonitor, sends: list[int], count: int
) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_connection, SocketTransport(srv), conn, "heavy")
        buf = bytearray()
        assert (await _line(client, buf)).startswith(b'{"QMP"')
        await client.send(b'{"execute":"qmp_capabilities"}')
        assert await _line(client, buf) == b'{"return": {}}'
        del sends[:]
        await client.send(b"]" * count + b'{"execute": "query-kvm", "id": 1}')
        errors = [await _line(client, buf) for _ in range(count)]
        assert set(errors) == {b'{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}'}
        assert await _line(client, buf) == b'{"return": {"enabled": false, "present": true}, "id": 1}'
        assert len(sends) == 2  # the run of errors, then the reply
        nursery.cancel_scope.cancel()
