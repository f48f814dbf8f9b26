"""Start fakeqemu's real binary as a subprocess for integration tests."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import trio
from qemu.qmp.legacy import QEMUMonitorProtocol

from tools.launch import BARE, FAKEQEMU, Emulator, connect

T = TypeVar("T")


@contextmanager
def legacy_monitor(path: str) -> Iterator[QEMUMonitorProtocol]:
    """qemu.qmp's synchronous (legacy) client, connected to ``path``, on an event loop of its own that is
    closed afterwards (the client itself takes the thread's loop and leaves it open)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        mon = QEMUMonitorProtocol(path)
        mon.connect()
        try:
            yield mon
        finally:
            mon.close()
    finally:
        asyncio.set_event_loop(None)
        loop.close()


class Proc:
    def __init__(self, popen: subprocess.Popen[bytes], sockets: list[str]) -> None:
        self.popen = popen
        self.sockets = sockets

    def stderr_text(self) -> str:
        assert self.popen.stderr is not None
        return self.popen.stderr.read().decode()


def wait_for_socket(path: str | tuple[str, int], proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Return once ``path`` accepts a connection (a probe, closed at once: the monitor greets it and sees
    it leave), or fail if ``proc`` exits first."""
    connect(path, proc, timeout).close()


@contextmanager
def fakeqemu(tmp: Path, *args: str, monitors: int = 1, wait: bool = True) -> Iterator[Proc]:
    """fakeqemu -M pc -S with ``monitors`` QMP unix sockets (tmp/qmp0.sock ...), plus ``args``; with
    ``wait``, once every monitor accepts."""
    paths = [str(tmp / f"qmp{i}.sock") for i in range(monitors)]
    argv = [*FAKEQEMU, "-M", "pc", *BARE, "-S"]
    for p in paths:
        argv += ["-qmp", f"unix:{p},server=on,wait=off"]
    with Emulator(prefix="procs-") as emu:
        proc = emu.start([*argv, *args], stdout=subprocess.PIPE)
        if wait:
            for p in paths:
                wait_for_socket(p, proc)
        yield Proc(proc, paths)


class Raw:
    """A blocking raw QMP client: bytes exactly as sent, lines exactly as received."""

    def __init__(self, path: str | tuple[str, int], timeout: float = 20.0, eol: bytes = b"\r\n") -> None:
        self.sock = connect(path, timeout=timeout)  # as soon as it accepts
        self.sock.settimeout(timeout)
        self.buf = b""
        #: what ends a message: QMP's CRLF, the guest agent's LF
        self.eol = eol

    def line(self) -> bytes:
        while self.eol not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(self.eol)
        return line

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def cmd(self, data: bytes) -> bytes:
        self.send(data)
        return self.line()

    def negotiate(self) -> bytes:
        greeting = self.line()
        assert self.cmd(b'{"execute":"qmp_capabilities"}') == b'{"return": {}}'
        return greeting

    def close(self) -> None:
        self.sock.close()

    def __del__(self) -> None:  # tests may drop a client without closing it
        self.sock.close()


async def in_asyncio(scenario: Callable[[], Awaitable[T]], limit: float = 10.0) -> T:
    """Run a qemu.qmp (asyncio) scenario from a trio test, with the timeout on the asyncio side."""

    def run() -> T:
        async def bounded() -> T:
            return await asyncio.wait_for(scenario(), limit)

        return asyncio.run(bounded())

    return await trio.to_thread.run_sync(run)


def strip_timestamp(msg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in msg.items() if k != "timestamp"}
