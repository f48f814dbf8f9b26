"""The test's end of a VM's qtest link (``FakeQemu(qtest=True)``): QEMU's qtest protocol, one command per
line, as tests/qtest/libqtest.c speaks it; ``IRQ raise N`` / ``IRQ lower N`` lines that arrive between
replies are kept in ``irqs``."""

from __future__ import annotations

import socket


class QTest:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._file = sock.makefile("rb")
        self.irqs: list[str] = []

    def cmd(self, line: str) -> str:
        """Send one command (``outl 0xae08 0x10``, ``irq_intercept_in ioapic``, ...); its reply line
        (``OK ...``, ``FAIL ...``, ``ERR ...``) without the newline."""
        self.sock.sendall(line.encode() + b"\n")
        while True:
            reply = self._file.readline()
            if not reply:
                raise EOFError("the qtest link closed")
            text = reply.decode().rstrip("\n")
            if text.startswith("IRQ "):
                self.irqs.append(text)
                continue
            return text

    def outl(self, port: int, value: int) -> None:
        self._ok(f"outl 0x{port:x} 0x{value:x}")

    def inl(self, port: int) -> int:
        return int(self._ok(f"inl 0x{port:x}").split()[1], 16)

    def _ok(self, line: str) -> str:
        reply = self.cmd(line)
        if not reply.startswith("OK"):
            raise RuntimeError(f"qtest {line!r}: {reply}")
        return reply

    def close(self) -> None:
        self._file.close()
        self.sock.close()


def listen(path: str) -> socket.socket:
    """Where the VM connects its qtest link at start-up (it is the client, as QEMU is)."""
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)
    sock.listen(1)
    return sock
