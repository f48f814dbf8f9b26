"""The human monitor's readline, as QEMU 7.2 echoes it (bytes measured from QEMU)."""

from __future__ import annotations

from fakeqemu.protocols.readline import Readline, banner


def test_echo_enter_and_prompt() -> None:
    rl = Readline(lambda line: f"ran {line}\r\n")
    assert banner("7.2.22") == b"QEMU 7.2.22 monitor - type 'help' for more information\r\n(qemu) "
    assert rl.feed(b"in\n") == b"i\x1b[K\x1b[Din\x1b[K\r\nran in\r\n(qemu) "
    assert rl.feed(b"\r\n") == b"\r\nran \r\n(qemu) \r\nran \r\n(qemu) "


def test_editing_and_history() -> None:
    lines: list[str] = []

    def run(line: str) -> str:
        lines.append(line)
        return ""

    rl = Readline(run)
    rl.feed(b"ab\x7fc\x1b[Dx\n")
    rl.feed(b"\x1b[A\n")
    assert lines == ["axc", "axc"]
