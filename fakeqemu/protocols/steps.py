"""What the byte-stream protocols whose server answers message by message share (RFB, the SPICE link):
bytes accumulate in ``buf``; ``receive`` runs the protocol's ``_step`` until it needs more input (None)
or the connection is to close, and returns what to send back."""

from __future__ import annotations


class Stepper:
    def __init__(self) -> None:
        self.buf = b""
        self.closed = False
        self.error = ""

    def _step(self) -> bytes | None:
        raise NotImplementedError

    def receive(self, data: bytes) -> bytes:
        self.buf += data
        out = bytearray()
        while not self.closed:
            step = self._step()
            if step is None:
                break
            out += step
        return bytes(out)

    def _take(self, n: int) -> bytes | None:
        """The next ``n`` bytes, once they are all there."""
        if len(self.buf) < n:
            return None
        head, self.buf = self.buf[:n], self.buf[n:]
        return head
