"""The qtest link on trio: like QEMU, fakeqemu connects as a client to ``-qtest unix:PATH`` at start-up
and then answers one command per line through the sans-IO fakeqemu.protocols.qtest session.

As QEMU does: the log of every line goes to stderr; asynchronous lines (IRQ changes caused by QMP
commands) are sent as they happen; an assertion failure in QEMU's parser aborts the process.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

import trio

from fakeqemu.protocols.qtest import QtestAbort, QtestSession

if TYPE_CHECKING:
    from fakeqemu.server.vm import VM

#: a qtest line longer than this is a broken peer, not a command
MAX_LINE = 1 << 20


def _log(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


async def _send_all(sock: trio.socket.SocketType, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[await sock.send(view) :]


async def serve_qtest(vm: VM, sock: trio.socket.SocketType) -> None:
    started = time.monotonic()
    session = QtestSession(vm.machine, log=_log)
    session.elapsed = lambda: time.monotonic() - started
    wake = trio.Event()
    lock = trio.Lock()

    def on_async() -> None:
        wake.set()

    session.on_async = on_async
    _log("[I 0.000000] OPENED\n")

    async def pump_async() -> None:
        nonlocal wake
        while True:
            await wake.wait()
            wake = trio.Event()
            out = session.take_async()
            if out:
                async with lock:
                    await _send_all(sock, out.encode())

    pending = b""
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump_async)
            while True:
                data = await sock.recv(65536)
                if not data:
                    break
                pending += data
                if len(pending) > MAX_LINE and b"\n" not in pending:
                    break
                *lines, pending = pending.split(b"\n")
                out: list[str] = []
                for raw in lines:
                    try:
                        out.append(session.handle_line(raw.decode("utf-8", "replace")))
                    except QtestAbort as exc:
                        sys.stdout.write(exc.stdout)
                        sys.stdout.flush()
                        _log(exc.stderr)
                        os.abort()
                async with lock:
                    await _send_all(sock, "".join(out).encode())
            nursery.cancel_scope.cancel()
    except OSError:
        pass
    finally:
        session.close()
        sock.close()
        _log(f"[I +{time.monotonic() - started:.6f}] CLOSED\n")
