"""``make bench`` rows for the HTTP plane: does a dashboard streaming the live feed slow QMP down?

One fakeqemu with ``-fakeqemu http=127.0.0.1:0``: query-status round trips through qemu.qmp with no HTTP
client, then with an SSE client reading /api/vms/<name>/stream (it receives every traffic record the
round trips make), compared with the same fakeqemu without the HTTP plane.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

from tools.launch import BARE, FAKEQEMU, Emulator

URL = r"dashboard at http://([0-9.]+):(\d+)/"


@contextmanager
def fakeqemu(http: bool) -> Iterator[tuple[str, tuple[str, int] | None]]:
    with Emulator(prefix="bench-http-") as emu:
        argv = [
            *FAKEQEMU,
            "-M",
            "pc",
            *BARE,
            "-S",
            "-name",
            "vm0",
            "-qmp",
            f"unix:{emu.path('qmp')},server=on,wait=off",
        ]
        emu.start([*argv, *(["-fakeqemu", "http=127.0.0.1:0"] if http else [])], log=True)
        addr: tuple[str, int] | None = None
        if http:
            found = emu.wait_log(URL)
            addr = (found.group(1), int(found.group(2)))
        emu.connect("qmp").close()  # accepting: qemu.qmp's connect does not retry
        yield emu.path("qmp"), addr


class StreamReader(threading.Thread):
    """A dashboard's live feed: reads the SSE stream as fast as it comes, counting messages."""

    def __init__(self, addr: tuple[str, int]) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(addr)
        host = f"{addr[0]}:{addr[1]}".encode()  # the server refuses other Host names (--http-allow-host)
        self.sock.sendall(b"GET /api/vms/vm0/stream HTTP/1.0\r\nHost: " + host + b"\r\n\r\n")
        self.messages = 0
        self.stopped = False

    def run(self) -> None:
        while not self.stopped:
            data = self.sock.recv(65536)
            if not data:
                return
            self.messages += data.count(b"\n\nevent: ") + data.startswith(b"event: ")

    def stop(self) -> None:
        self.stopped = True
        self.sock.close()


def measure(roundtrips: Callable[[str, int], Coroutine[Any, Any, list[float]]], n: int) -> dict[str, list[float]]:
    """Round trips (us) without HTTP, with HTTP idle, and with a live stream connected."""
    out: dict[str, list[float]] = {}
    with fakeqemu(http=False) as (path, _):
        out["no http"] = asyncio.run(roundtrips(path, n))
    with fakeqemu(http=True) as (path, addr):
        assert addr is not None
        out["http, idle"] = asyncio.run(roundtrips(path, n))
        reader = StreamReader(addr)
        reader.start()
        try:
            out["http + stream"] = asyncio.run(roundtrips(path, n))
            time.sleep(0.2)
            if reader.messages < n:
                raise RuntimeError(f"the stream carried {reader.messages} messages for {n} round trips")
        finally:
            reader.stop()
    return out
