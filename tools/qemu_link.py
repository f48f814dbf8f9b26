"""A real QEMU for the recording tools: a QMP monitor (and optionally the qtest link, listened on first
as libqtest does), one request at a time, events kept aside."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from typing import Any

from tools.launch import Emulator


class Qemu:
    def __init__(self, binary: str, args: list[str], qtest: bool = False) -> None:
        self.emu = Emulator(prefix="record-")
        extra = ["-qmp", f"unix:{self.emu.path('qmp')},server=on,wait=off"]
        if qtest:
            extra += ["-qtest", f"unix:{self.emu.listen('qtest')}"]
        try:
            self.proc = self.emu.start([binary, *args, *extra], stderr=subprocess.DEVNULL)
            self.qt = self.emu.accept("qtest") if qtest else None
            self.sock = self.emu.connect("qmp")
        except BaseException:
            self.emu.close()
            raise
        self.qt_buf = b""
        self.file = self.sock.makefile("rb")
        self.events: list[dict[str, Any]] = []
        self.greeting = self.file.readline()
        self.q("qmp_capabilities")

    def raw(self, message: bytes, fds: list[int] | None = None) -> bytes:
        """Send ``message``; the reply line exactly as QEMU wrote it (events are kept in ``events``)."""
        if fds:
            socket.send_fds(self.sock, [message], fds)
        else:
            self.sock.sendall(message)
        while True:
            line = self.file.readline()
            if not line:
                raise RuntimeError("QEMU closed the monitor")
            if line.startswith(b'{"timestamp"') or b'"event"' in line[:40]:
                self.events.append(json.loads(line))
                continue
            return line

    def q(self, execute: str, args: dict[str, Any] | None = None, fds: list[int] | None = None) -> dict[str, Any]:
        msg: dict[str, Any] = {"execute": execute}
        if args is not None:
            msg["arguments"] = args
        reply: dict[str, Any] = json.loads(self.raw(json.dumps(msg).encode() + b"\n", fds))
        return reply

    def ok(self, execute: str, args: dict[str, Any] | None = None) -> Any:
        reply = self.q(execute, args)
        if "error" in reply:
            raise RuntimeError(f"{execute} {args}: {reply['error']}")
        return reply["return"]

    def err(self, execute: str, args: dict[str, Any] | None = None, fds: list[int] | None = None) -> Any:
        reply = self.q(execute, args, fds)
        if "error" not in reply:
            raise RuntimeError(f"{execute} {args}: expected an error, got {reply}")
        return reply["error"]

    def qtest(self, line: str) -> str:
        """One qtest command's reply (IRQ notifications skipped)."""
        assert self.qt is not None, "started without qtest"
        self.qt.sendall(line.encode() + b"\n")
        while True:
            while b"\n" not in self.qt_buf:
                self.qt_buf += self.qt.recv(4096)
            out, self.qt_buf = self.qt_buf.split(b"\n", 1)
            text = out.decode()
            if not text.startswith("IRQ"):
                return text

    def wait_event(self, name: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(e["event"] == name for e in self.events):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {name} event")
            self.q("query-status")
            time.sleep(0.05)

    def close(self) -> None:
        self.emu.terminate()
        self.file.close()
        self.sock.close()
        if self.qt is not None:
            self.qt.close()
        self.emu.close()
