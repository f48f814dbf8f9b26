"""A real QEMU for the recording tools: a QMP monitor (and optionally the qtest link, listened on first
as libqtest does), one request at a time, events kept aside."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any


class Qemu:
    def __init__(self, binary: str, args: list[str], qtest: bool = False) -> None:
        self.dir = tempfile.mkdtemp(prefix="record-")
        path = os.path.join(self.dir, "qmp")
        extra = ["-qmp", f"unix:{path},server=on,wait=off"]
        listener: socket.socket | None = None
        if qtest:
            qt = os.path.join(self.dir, "qtest")
            listener = socket.socket(socket.AF_UNIX)
            listener.bind(qt)
            listener.listen(1)
            extra += ["-qtest", f"unix:{qt}"]
        self.proc = subprocess.Popen([binary, *args, *extra], stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.qt: socket.socket | None = None
        self.qt_buf = b""
        if listener is not None:
            listener.settimeout(10)
            self.qt, _ = listener.accept()
            listener.close()
        for _ in range(1000):
            if os.path.exists(path):
                break
            time.sleep(0.01)
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
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
        self.proc.terminate()
        self.proc.wait(10)
        self.sock.close()
        if self.qt is not None:
            self.qt.close()
        shutil.rmtree(self.dir, ignore_errors=True)
