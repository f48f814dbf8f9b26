"""``-chardev pty`` behind an isa-serial: a real pseudo-terminal (QEMU's "char device redirected to" line,
query-chardev's ``pty:`` name), on which the guest model prints its boot log and login prompt and answers."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.procs import legacy_monitor


def read_until(fd: int, marker: bytes, timeout: float = 10.0) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while marker not in got:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} on the console; got {got!r}"
        if select.select([fd], [], [], left)[0]:
            got += os.read(fd, 4096)
    return got


def test_pty_console(tmp_path: Path) -> None:
    qmp = tmp_path / "qmp.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakeqemu", "-M", "pc", "-display", "none", "-nodefaults", "-S", "-name", "vm7",
         "-chardev", "pty,id=charserial0", "-device", "isa-serial,chardev=charserial0,id=serial0",
         "-qmp", f"unix:{qmp},server=on,wait=off"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        m = re.fullmatch(r"char device redirected to (/dev/pts/\d+) \(label charserial0\)\n", line)
        assert m is not None, line
        tty = os.open(m.group(1), os.O_RDWR | os.O_NOCTTY)
        try:
            with legacy_monitor(str(qmp)) as mon:
                chardevs = mon.cmd("query-chardev")
                assert isinstance(chardevs, list)
                assert {"label": "charserial0", "filename": f"pty:{m.group(1)}", "frontend-open": True} in chardevs
                mon.cmd("cont")  # the guest boots
                out = read_until(tty, b"vm7 login: ")
                assert b"Debian GNU/Linux 12 vm7 ttyS0" in out
                os.write(tty, b"root\r")
                assert read_until(tty, b"Password: ").startswith(b"root")
        finally:
            os.close(tty)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
