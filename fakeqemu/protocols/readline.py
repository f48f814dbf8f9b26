"""A human monitor (HMP) on a socket, sans-IO: QEMU's readline as a terminal sees it (util/readline.c).

QEMU echoes what the client types by redrawing the line after each byte: it moves the cursor back over
the previous line (ESC [ D each), writes the whole line and erases to the end (ESC [ K). Enter (CR or LF,
each on its own) writes CRLF, runs the command and writes the prompt ``(qemu) ``. Editing keys as
QEMU's: backspace, Ctrl-A/Ctrl-E (home/end), Ctrl-D (delete), Ctrl-W (word back), the arrows and
history (ESC [ A/B/C/D, and F/E for up/down), ESC [ N ~ (1 home, 3 delete, 4 end; other numbers
ignored), ESC O H/F, and the 8-bit CSI byte 155. Bytes are kept as they come (no decoding). A line holds
at most READLINE_CMD_BUF_SIZE characters: further ones are dropped, as QEMU drops them, so the echo stays
bounded. The history keeps 64 lines, each once. Tab completion is not modelled (a tab is ignored).
"""

from __future__ import annotations

from collections.abc import Callable

PROMPT = "(qemu) "
#: QEMU's line buffer (include/qemu/readline.h)
READLINE_CMD_BUF_SIZE = 4095
READLINE_MAX_CMDS = 64
_NORM, _ESC, _CSI, _SS3 = 0, 1, 2, 3
_C_SPACE = " \t\n\v\f\r"


def banner(version: str) -> bytes:
    """What a human monitor's client is sent first: the banner and the prompt."""
    return f"QEMU {version} monitor - type 'help' for more information\r\n{PROMPT}".encode()


def _encode(text: str) -> bytes:
    """Terminal output: the line's own bytes come back as they were typed (latin-1 round trip)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


class Readline:
    """Bytes in, terminal output out; ``run(line) -> output`` executes a finished line (the line's bytes
    as latin-1 characters)."""

    def __init__(self, run: Callable[[str], str]) -> None:
        self.run = run
        self.buf = ""
        self.index = 0
        self.last_buf = ""
        self.last_index = 0
        self.state = _NORM
        self.param = 0
        self.history: list[str] = []
        self.hist_entry = -1

    def feed(self, data: bytes) -> bytes:
        out: list[str] = []
        for byte in data:
            out.append(self._byte(byte))
        return _encode("".join(out))

    def _byte(self, c: int) -> str:
        if self.state == _NORM:
            if c in (10, 13):
                return self._enter()
            self._norm(c)
        elif self.state == _ESC:
            self.state, self.param = {0x5B: _CSI, 0x4F: _SS3}.get(c, _NORM), 0
        elif self.state == _CSI:
            if 0x30 <= c <= 0x39:
                self.param = self.param * 10 + c - 0x30
                return self._update()
            self._csi(c)
            self.state = _NORM
        else:
            if c == 0x46:
                self.index = len(self.buf)
            elif c == 0x48:
                self.index = 0
            self.state = _NORM
        return self._update()

    def _norm(self, c: int) -> None:
        if c == 1:
            self.index = 0
        elif c == 4:
            self._delete()
        elif c == 5:
            self.index = len(self.buf)
        elif c == 23:
            self._backword()
        elif c == 27:
            self.state = _ESC
        elif c in (8, 127):
            if self.index > 0:
                self.index -= 1
                self._delete()
        elif c == 155:
            self.state = _CSI
        elif c >= 32 and c != 9 and self.index < READLINE_CMD_BUF_SIZE and len(self.buf) < READLINE_CMD_BUF_SIZE:
            self.buf = self.buf[: self.index] + chr(c) + self.buf[self.index :]
            self.index += 1

    def _csi(self, c: int) -> None:
        if c in (0x41, 0x46):  # A, F
            self._up()
        elif c in (0x42, 0x45):  # B, E
            self._down()
        elif c == 0x44:  # D
            self.index = max(0, self.index - 1)
        elif c == 0x43:  # C
            self.index = min(len(self.buf), self.index + 1)
        elif c == 0x7E:  # ~
            if self.param == 1:
                self.index = 0
            elif self.param == 3:
                self._delete()
            elif self.param == 4:
                self.index = len(self.buf)

    def _enter(self) -> str:
        line = self.buf
        self._hist_add(line)
        self.buf, self.index, self.last_buf, self.last_index = "", 0, "", 0
        return "\r\n" + self.run(line) + PROMPT

    def _delete(self) -> None:
        if self.index < len(self.buf):
            self.buf = self.buf[: self.index] + self.buf[self.index + 1 :]

    def _backword(self) -> None:
        """readline_backword: back over spaces, then over the word."""
        if self.index == 0 or self.index > len(self.buf):
            return
        start = self.index - 1
        while start > 0 and self.buf[start] in _C_SPACE:
            start -= 1
        while start > 0:
            if self.buf[start] in _C_SPACE:
                start += 1
                break
            start -= 1
        if start < self.index:
            self.buf = self.buf[:start] + self.buf[self.index :]
            self.index = start

    def _up(self) -> None:
        if self.hist_entry == 0:
            return
        if self.hist_entry == -1:
            self.hist_entry = len(self.history)
        self.hist_entry -= 1
        if self.hist_entry >= 0:
            self.buf = self.history[self.hist_entry]
            self.index = len(self.buf)

    def _down(self) -> None:
        if self.hist_entry == -1:
            return
        if self.hist_entry < READLINE_MAX_CMDS - 1 and self.hist_entry + 1 < len(self.history):
            self.hist_entry += 1
            self.buf = self.history[self.hist_entry]
        else:
            if self.hist_entry < READLINE_MAX_CMDS - 1:
                self.hist_entry += 1
            self.buf = ""
            self.hist_entry = -1
        self.index = len(self.buf)

    def _hist_add(self, line: str) -> None:
        """readline_hist_add: each line once, the newest last, at most READLINE_MAX_CMDS."""
        if not line:
            return
        if line in self.history:
            self.history.remove(line)
        elif len(self.history) == READLINE_MAX_CMDS:
            del self.history[0]
        self.history.append(line)
        self.hist_entry = -1

    def _update(self) -> str:
        """readline_update: redraw the line if it changed, then move the cursor where it belongs."""
        out: list[str] = []
        if self.buf != self.last_buf:
            out.append("\x1b[D" * self.last_index)
            out.append(self.buf)
            out.append("\x1b[K")
            self.last_buf = self.buf
            self.last_index = len(self.buf)
        if self.index != self.last_index:
            delta = self.index - self.last_index
            out.append(("\x1b[C" * delta) if delta > 0 else ("\x1b[D" * -delta))
            self.last_index = self.index
        return "".join(out)
