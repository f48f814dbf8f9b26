"""Differential: QEMU's readline editing keys on a human monitor, byte for byte (ESC [ N ~, ESC O, the
8-bit CSI, Ctrl-D/Ctrl-W, history by ESC [ F/E), raw 8-bit bytes, the command name in "unknown command",
and the line limit (4,095 characters; the rest dropped, the echo bounded)."""

from __future__ import annotations

import pytest

from tests.differential.test_hmp_monitor import transcript
from tests.oracle import fakeqemu_target, qemu_target

TYPED = [
    (b"info status\x1b[1~\x1b[4~\n", 1),
    (b"info statusx\x1b[D\x1b[3~\n", 1),
    (b"xinfo name\x01\x04\n", 1),
    (b"info foo bar\x17\x17name\n", 1),
    (b"info name\x1bOH\x1bOF\n", 1),
    (b"\x1b[F\n", 1),
    (b"\x1b[12~info name\n", 1),
    (b"\x9bD\n", 1),
    (b"nosuch\xc3\xa9\n", 1),
    (b"a.b/x y\n", 1),
    (b"  info   name\n", 1),
    (b"  nosuch x\n", 1),
    (b"info  status  \n", 1),
    (b"info\x00x name\n", 1),
    (b"\x1bxinfo name\n", 1),
    (b"\x1b[E\x1b[F\x1b[F\x1b[E\n", 1),
    (b"info qtree\x1b[5~\n", 1),
]
#: a line past QEMU's buffer: characters beyond 4,095 are dropped (and echo nothing)
LONG = [(b"info name " + b"y" * 4200 + b"\x1b[1~\x1b[3~\n", 1)]


@pytest.mark.qemu
@pytest.mark.parametrize("typed", [TYPED, LONG], ids=["keys", "long-line"])
def test_readline_matches_qemu(qemu_binary: str, typed: list[tuple[bytes, int]]) -> None:
    expected = transcript(qemu_target().command([]), typed)
    actual = transcript(fakeqemu_target().command([]), typed)
    for (chunk, _), want, got in zip([(b"(connect)", 1), *typed], expected, actual, strict=True):
        assert got == want, f"after {chunk[:40]!r}"
