"""Differential: a human monitor socket (``-monitor unix:...``), byte for byte: banner, readline echo,
line editing, history, command output, prompt."""

from __future__ import annotations

import pytest

from tests.oracle import fakeqemu_target, qemu_target
from tools.launch import BARE, Emulator

PROMPT = b"(qemu) "
#: what a person types, one chunk per send, with the number of prompts QEMU answers it with (a prompt
#: ends each command line's output, so a chunk's answer is read up to its last prompt, not for a while)
TYPED = [
    (b"info status\n", 1),
    (b"i/w 0xae0c\r\n", 2),
    (b"nosuch\n", 1),
    (b"\n", 1),
    (b"infx\x7fo name\n", 1),
    (b"info statu\x1b[D\x1b[D\x1b[C\x1b[Cs\n", 1),
    (b"\x1b[A\x1b[A\n", 1),
    (b"o/w 0xae10 0x1\ni/w 0xae10\n", 2),
    (b"info pci\n", 1),
    (b"help info pci\n? stop\n", 2),
    (b"netdev_add user,id=h1\ndevice_add e1000,id=m1,netdev=h1\n", 2),
    (b"netdev_add user,id=h2\ninfo network\n", 2),
    (b"device_add e1000,help\n", 1),
]


def transcript(command: list[str], typed: list[tuple[bytes, int]] = TYPED) -> list[bytes]:
    """The banner, then what each typed chunk brings back."""
    with Emulator(prefix="hmp-") as emu:
        path = emu.path("hmp.sock")
        emu.start([*command, "-M", "pc", *BARE, "-S", "-monitor", f"unix:{path},server=on,wait=off"])
        with emu.connect("hmp.sock") as sock:
            sock.settimeout(20)
            out = []
            for chunk, prompts in [(b"", 1), *typed]:
                sock.sendall(chunk)
                data = bytearray()
                while not (data.endswith(PROMPT) and data.count(PROMPT) >= prompts):
                    got = sock.recv(1 << 20)
                    assert got, f"monitor closed after {chunk[:40]!r}: {bytes(data[-200:])!r}"
                    data += got
                out.append(bytes(data))
            return out


@pytest.mark.qemu
def test_human_monitor_matches_qemu(qemu_binary: str) -> None:
    expected = transcript(qemu_target().command([]))
    actual = transcript(fakeqemu_target().command([]))
    for (typed, _), want, got in zip([(b"(connect)", 1), *TYPED], expected, actual, strict=True):
        assert got == want, f"after {typed!r}"
