"""Differential: a human monitor socket (``-monitor unix:...``), byte for byte: banner, readline echo,
line editing, history, command output, prompt."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from tests.oracle import fakeqemu_target, qemu_target

#: what a person types, one chunk per send
TYPED = [
    b"info status\n",
    b"i/w 0xae0c\r\n",
    b"nosuch\n",
    b"\n",
    b"infx\x7fo name\n",
    b"info statu\x1b[D\x1b[D\x1b[C\x1b[Cs\n",
    b"\x1b[A\x1b[A\n",
    b"o/w 0xae10 0x1\ni/w 0xae10\n",
    b"info pci\n",
]


def transcript(command: list[str]) -> list[bytes]:
    tmp = tempfile.mkdtemp(prefix="hmp-")
    path = os.path.join(tmp, "hmp.sock")
    proc = subprocess.Popen(
        [*command, "-M", "pc", "-display", "none", "-nodefaults", "-S", "-monitor", f"unix:{path},server=on,wait=off"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(path):
            assert proc.poll() is None and time.monotonic() < deadline, "no monitor socket"
            time.sleep(0.01)
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(path)
        sock.settimeout(0.3)
        out = []
        for chunk in [b"", *TYPED]:
            if chunk:
                sock.sendall(chunk)
            data = b""
            try:
                while True:
                    got = sock.recv(65536)
                    if not got:
                        break
                    data += got
            except TimeoutError:
                pass
            out.append(data)
        sock.close()
        return out
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.qemu
def test_human_monitor_matches_qemu(qemu_binary: str) -> None:
    expected = transcript(qemu_target().command([]))
    actual = transcript(fakeqemu_target().command([]))
    for typed, want, got in zip([b"(connect)", *TYPED], expected, actual, strict=True):
        assert got == want, f"after {typed!r}"
