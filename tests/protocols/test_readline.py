"""The human monitor's readline, as QEMU 7.2 echoes it (bytes measured from QEMU)."""

from __future__ import annotations

from fakeqemu.protocols.readline import READLINE_CMD_BUF_SIZE, Readline, banner


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


def _recorder(lines: list[str]) -> Readline:
    def run(line: str) -> str:
        lines.append(line)
        return ""

    return Readline(run)


def test_a_line_stops_at_qemus_buffer_size_and_the_echo_stays_bounded() -> None:
    lines: list[str] = []
    rl = _recorder(lines)
    n = READLINE_CMD_BUF_SIZE
    first = len(rl.feed(b"x" * (n + 10)))
    assert first <= 2 * n * n + 10 * n  # about 2n^2 (the redraw after each byte), as QEMU's
    assert rl.feed(b"y" * 100_000) == b""  # dropped: nothing to redraw
    rl.feed(b"\n")
    assert lines == ["x" * n]


def test_csi_number_tilde_keys() -> None:
    lines: list[str] = []
    rl = _recorder(lines)
    rl.feed(b"abc\x1b[1~X\x1b[4~Y\x1b[D\x1b[3~\x1b[12~\x1b[99~\n")
    assert lines == ["Xabc"]
