"""The connection driver in-process: memory streams for connections, a scripted listener for accept
errors, trio's MockClock for the retry pause."""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator

import pytest
import trio
import trio.testing

from fakeqemu.machine.machine import MachineConfig
from fakeqemu.server.driver import Closed, Link, RawData, StreamTransport, accept_loop, serve_connection
from fakeqemu.server.monitor import QMPMonitor
from fakeqemu.server.vm import VM, VMConfig


class Echo:
    """The smallest protocol object: greets, echoes, notes when it is closed."""

    wants_fds = False

    def __init__(self) -> None:
        self.link: Link | None = None
        self.events: list[RawData | Closed] = []

    def connected(self, link: Link) -> None:
        self.link = link
        link.send(b"hello\n")

    async def handle(self, event: RawData | Closed) -> None:
        self.events.append(event)
        if isinstance(event, RawData) and self.link is not None:
            if event.data == b"bye":
                self.link.close()
            else:
                self.link.send(event.data.upper())


async def _read(stream: trio.abc.ReceiveStream, until: bytes) -> bytes:
    got = b""
    while until not in got:
        chunk = await stream.receive_some()
        if not chunk:
            raise EOFError(got)
        got += chunk
    return got


async def test_a_protocol_is_fed_raw_data_then_closed() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    echo = Echo()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_connection, StreamTransport(ours), echo, "echo")
        assert await _read(theirs, b"\n") == b"hello\n"
        await theirs.send_all(b"abc")
        assert await _read(theirs, b"ABC") == b"ABC"
        await theirs.send_all(b"bye")
        assert await theirs.receive_some() == b""  # the protocol closed it
    assert echo.events == [RawData(b"abc"), RawData(b"bye"), Closed()]


class ScriptedListener:
    """Stands in for a listening trio socket: each accept() raises or returns the next scripted item."""

    def __init__(self, script: list[OSError | trio.socket.SocketType]) -> None:
        self.script = script
        self.closed = False

    async def accept(self) -> tuple[trio.socket.SocketType, object]:
        await trio.lowlevel.checkpoint()
        item = self.script.pop(0)
        if isinstance(item, OSError):
            raise item
        return item, None

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def pair() -> Iterator[tuple[trio.socket.SocketType, trio.socket.SocketType]]:
    a, b = trio.socket.socketpair()
    with a, b:
        yield a, b


async def test_accept_survives_resource_errors_and_stops_on_others(
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
    pair: tuple[trio.socket.SocketType, trio.socket.SocketType],
) -> None:
    caplog.set_level(logging.INFO, logger="fakeqemu")
    client, _peer = pair
    served: list[float] = []
    script: list[OSError | trio.socket.SocketType] = [
        OSError(errno.EMFILE, "Too many open files"),
        OSError(errno.ENFILE, "Too many open files in system"),
        OSError(errno.ECONNABORTED, "Software caused connection abort"),
        client,
        OSError(errno.EINVAL, "Invalid argument"),
    ]
    listener = ScriptedListener(script)

    async def serve(sock: trio.socket.SocketType, greeted: bool) -> None:
        served.append(trio.current_time())
        raise RuntimeError("a broken connection")  # logged; the loop goes on

    await accept_loop(listener, "m0", serve)
    assert served == [pytest.approx(0.2)]  # two resource errors: two 100 ms pauses
    assert listener.closed and not script
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cannot accept a client" in m for m in messages) == 1  # logged once per streak
    assert any("accepting clients again" in m for m in messages)
    assert any("connection failed" in m for m in messages)
    assert any("serves no more clients" in m and "Invalid argument" in m for m in messages)


async def test_qmp_over_a_memory_stream_with_events() -> None:
    vm = VM(VMConfig(machine=MachineConfig(paused=True)))
    vm._new_machine()
    ours, theirs = trio.testing.memory_stream_pair()
    monitor = QMPMonitor(vm, "mem")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_connection, StreamTransport(ours), monitor, "mem")
        assert (await _read(theirs, b"\r\n")).startswith(b'{"QMP": {"version"')
        await theirs.send_all(b'{"execute": "query-status"}')
        assert b"Expecting capabilities negotiation" in await _read(theirs, b"\r\n")
        await theirs.send_all(b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}')
        assert await _read(theirs, b"\r\n") == b'{"return": {}}\r\n'
        await theirs.send_all(b'{"execute": "cont", "id": 1}')
        got = await _read(theirs, b'"id": 1}\r\n')
        assert got.index(b'"RESUME"') < got.index(b'{"return": {}, "id": 1}')
        vm.machine.system_powerdown()  # an event from outside the reader: the writer sends it
        assert b'"POWERDOWN"' in await _read(theirs, b"POWERDOWN")
        await theirs.aclose()
    assert monitor.closed and monitor._unsubscribe is None
