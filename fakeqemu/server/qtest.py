"""The qtest link on trio: like QEMU, fakeqemu connects as a client to ``-qtest unix:PATH`` at start-up
and then answers one command per line through the sans-IO fakeqemu.machine.qtest session."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import trio

from fakeqemu.machine.qtest import QtestSession

if TYPE_CHECKING:
    from fakeqemu.server.vm import VM

#: a qtest line longer than this is a broken peer, not a command
MAX_LINE = 1 << 20


async def serve_qtest(vm: VM, sock: trio.socket.SocketType) -> None:
    session = QtestSession(vm.machine)
    started = time.monotonic()
    # QEMU's qtest logs the link's opening and closing on stderr
    print("[I 0.000001] OPENED", file=sys.stderr, flush=True)
    pending = b""
    try:
        while True:
            data = await sock.recv(65536)
            if not data:
                break
            pending += data
            if len(pending) > MAX_LINE and b"\n" not in pending:
                break
            *lines, pending = pending.split(b"\n")
            replies = []
            for raw in lines:
                line = raw.decode("utf-8", "replace").rstrip("\r")
                replies.append(session.handle_line(line))
            out = "".join(r if r.endswith("\n") else r + "\n" for r in replies if r is not None)
            view = memoryview(out.encode())
            while view:
                view = view[await sock.send(view) :]
    except OSError:
        pass
    finally:
        sock.close()
        print(f"[I +{time.monotonic() - started:.6f}] CLOSED", file=sys.stderr, flush=True)
