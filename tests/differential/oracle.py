"""Run one script against Debian's QEMU and against fakeqemu and compare the transcripts.

Both get the same command line, with a qtest socket the harness listens on (as QEMU's libqtest does).
A transcript is the raw bytes of every message read after each step; event timestamps and the
greeting's ``package`` string are normalised, everything else is compared byte for byte.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from functools import cache

QUIET_S = 0.25  # no more output for this long: the step's answer is complete
_TIMESTAMP = re.compile(rb'"timestamp": \{"seconds": \d+, "microseconds": \d+\}')
_PACKAGE = re.compile(rb'"package": "[^"]*"')


@cache
def qemu_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"version (\d+\.\d+\.\d+)", out)
    assert match is not None, out
    return match.group(1)


def normalise(data: bytes) -> bytes:
    return _PACKAGE.sub(b'"package": "*"', _TIMESTAMP.sub(b'"timestamp": *', data))


class Emulator:
    def __init__(self, argv: Sequence[str], args: Sequence[str]) -> None:
        self.dir = tempfile.mkdtemp(prefix="fq-oracle-")
        qmp, qtest = os.path.join(self.dir, "qmp.sock"), os.path.join(self.dir, "qtest.sock")
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(qtest)
        listener.listen(1)
        listener.settimeout(20)
        self.proc = subprocess.Popen(
            [
                *argv,
                "-display",
                "none",
                "-nodefaults",
                *args,
                "-qmp",
                f"unix:{qmp},server=on,wait=off",
                "-qtest",
                f"unix:{qtest}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.qtest, _ = listener.accept()
        listener.close()
        deadline = time.monotonic() + 20
        while True:
            try:
                self.qmp = socket.socket(socket.AF_UNIX)
                self.qmp.connect(qmp)
                break
            except OSError:
                self.qmp.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def read_quiet(self) -> bytes:
        out = b""
        self.qmp.settimeout(QUIET_S)
        try:
            while True:
                chunk = self.qmp.recv(65536)
                if not chunk:
                    return out + b"<EOF>"
                out += chunk
        except TimeoutError:
            return out

    def close(self) -> None:
        self.qmp.close()
        self.qtest.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def transcript(argv: Sequence[str], args: Sequence[str], steps: Sequence[bytes]) -> list[tuple[bytes, bytes]]:
    emu = Emulator(argv, args)
    try:
        out = [(b"<connect>", normalise(emu.read_quiet()))]
        for step in steps:
            emu.qmp.sendall(step)
            out.append((step, normalise(emu.read_quiet())))
        return out
    finally:
        emu.close()


def compare(qemu: str, args: Sequence[str], steps: Sequence[bytes]) -> None:
    version = qemu_version(qemu)
    want = transcript([qemu], args, steps)
    got = transcript([sys.executable, "-m", "fakeqemu", "-fakeqemu", f"qemu-version={version}"], args, steps)
    for (sent, expected), (_, actual) in zip(want, got, strict=True):
        assert actual == expected, f"after sending {sent!r}:\n  QEMU:     {expected!r}\n  fakeqemu: {actual!r}"
