"""The qtest link: like QEMU, fakeqemu connects as a client to ``-qtest unix:PATH`` at start-up; the
connection driver feeds this protocol object, which answers one command per line through the sans-IO
fakeqemu.protocols.qtest session.

As QEMU does: the log of every line goes to stderr; asynchronous lines (IRQ changes caused by QMP
commands) are sent as they happen; an assertion failure in QEMU's parser aborts the process.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from fakeqemu.protocols.qtest import QtestAbort, QtestSession
from fakeqemu.server.driver import Closed, Link, RawData, SocketTransport, serve_connection

if TYPE_CHECKING:
    from fakeqemu.server.vm import VM

#: a qtest line longer than this is a broken peer, not a command
MAX_LINE = 1 << 20


def _log(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def _logger(path: str | None) -> Callable[[str], None]:
    """-qtest-log: stderr by default, nothing for ``none``, else the file (truncated)."""
    if path is None:
        return _log
    if path == "none":
        return lambda text: None
    try:
        # open for the life of the process, as QEMU's qtest_log_fp (fopen "w+"; /dev/fd/2 is a pipe here)
        f = open(path, "w")  # noqa: SIM115
    except OSError:
        return lambda text: None  # QEMU logs nothing when fopen fails

    def write(text: str) -> None:
        f.write(text)
        f.flush()

    return write


class QtestLink:
    wants_fds = False

    def __init__(self, vm: VM) -> None:
        self.started = time.monotonic()
        self.log = _logger(vm.machine.config.qtest_log)
        self.session = QtestSession(vm.machine, log=self.log)
        self.session.elapsed = lambda: time.monotonic() - self.started
        self.session.on_async = self._on_async
        self.pending = b""
        self.link: Link | None = None

    def _on_async(self) -> None:
        out = self.session.take_async()
        if out and self.link is not None:
            self.link.send(out.encode())

    def connected(self, link: Link) -> None:
        self.link = link
        self.log("[I 0.000000] OPENED\n")

    async def handle(self, event: RawData | Closed) -> None:
        assert self.link is not None
        if isinstance(event, Closed):
            self.session.close()
            self.log(f"[I +{time.monotonic() - self.started:.6f}] CLOSED\n")
            return
        self.pending += event.data
        if len(self.pending) > MAX_LINE and b"\n" not in self.pending:
            self.link.close()
            return
        *lines, self.pending = self.pending.split(b"\n")
        out: list[str] = []
        for raw in lines:
            try:
                out.append(self.session.handle_line(raw.decode("utf-8", "replace")))
            except QtestAbort as exc:
                sys.stdout.write(exc.stdout)
                sys.stdout.flush()
                _log(exc.stderr)
                os.abort()
        if out:
            self.link.send("".join(out).encode())


async def serve_qtest(vm: VM, sock: trio.socket.SocketType) -> None:
    await serve_connection(SocketTransport(sock), QtestLink(vm), "qtest")
