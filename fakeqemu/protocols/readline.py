"""A human monitor (HMP) on a socket, sans-IO: QEMU's readline as a terminal sees it (util/readline.c).

QEMU echoes what the client types by redrawing the line after each byte: it moves the cursor back over
the previous line (ESC [ D each), writes the whole line and erases to the end (ESC [ K). Enter (CR or LF,
each on its own) writes CRLF, runs the command and writes the prompt ``(qemu) ``. Backspace, the arrow
keys, Home/End (Ctrl-A/Ctrl-E) and the history (up/down) edit the line; tab completion is not modelled
(a tab is ignored).
"""

from __future__ import annotations

from collections.abc import Callable

PROMPT = "(qemu) "
_ESC, _CSI = 1, 2


def banner(version: str) -> bytes:
    """What a human monitor's client is sent first: the banner and the prompt."""
    return f"QEMU {version} monitor - type 'help' for more information\r\n{PROMPT}".encode()


class Readline:
    """Bytes in, terminal output out; ``run(line) -> output`` executes a finished line."""

    def __init__(self, run: Callable[[str], str]) -> None:
        self.run = run
        self.buf = ""
        self.index = 0
        self.last_buf = ""
        self.last_index = 0
        self.state = 0
        self.history: list[str] = []
        self.hist_pos = -1

    def feed(self, data: bytes) -> bytes:
        out: list[str] = []
        for byte in data:
            out.append(self._byte(byte))
        return "".join(out).encode("utf-8", "replace")

    def _byte(self, c: int) -> str:
        if self.state == _ESC:
            self.state = _CSI if c == ord("[") else 0
            return ""
        if self.state == _CSI:
            self.state = 0
            if c == ord("D"):
                self.index = max(0, self.index - 1)
            elif c == ord("C"):
                self.index = min(len(self.buf), self.index + 1)
            elif c == ord("A"):
                self._recall(-1)
            elif c == ord("B"):
                self._recall(1)
            elif c == ord("H"):
                self.index = 0
            elif c == ord("F"):
                self.index = len(self.buf)
            return self._update()
        if c in (10, 13):
            line = self.buf
            if line and (not self.history or self.history[-1] != line):
                self.history.append(line)
            self.hist_pos = -1
            self.buf, self.index, self.last_buf, self.last_index = "", 0, "", 0
            return "\r\n" + self.run(line) + PROMPT
        if c == 27:
            self.state = _ESC
            return ""
        if c in (8, 127):
            if self.index > 0:
                self.buf = self.buf[: self.index - 1] + self.buf[self.index :]
                self.index -= 1
            return self._update()
        if c == 1:
            self.index = 0
            return self._update()
        if c == 5:
            self.index = len(self.buf)
            return self._update()
        if c >= 32 and c != 127:
            self.buf = self.buf[: self.index] + chr(c) + self.buf[self.index :]
            self.index += 1
            return self._update()
        return ""

    def _recall(self, step: int) -> None:
        if not self.history:
            return
        pos = len(self.history) if self.hist_pos < 0 else self.hist_pos
        pos = min(max(pos + step, 0), len(self.history))
        self.hist_pos = pos
        self.buf = self.history[pos] if pos < len(self.history) else ""
        self.index = len(self.buf)

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
