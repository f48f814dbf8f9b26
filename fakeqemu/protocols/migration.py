"""fakeqemu's migration stream, sans-IO: what one fakeqemu sends another on ``migrate``, and what
``savevm``-style files would hold. Bytes in, frames out; frames in, bytes out; no sockets here.

The format (version 2):

    magic    b"FAKEQEMU-MIGRATION\\n" (19 bytes; QEMU's own streams start with b"QEVM", so neither side
             mistakes the other's)
    version  u32, big endian
    frames   kind (1 byte) + length (u32, big endian) + payload

Frame kinds, in the order a source sends them:

    H  header: JSON {"machine": "pc"|"q35"|"none", "qemu": [7, 2, 22]} -- checked first by the destination
    R  RAM pass: JSON {"pass": n, "bytes": b} -- one per dirty-memory pass (MIGRATION_PASS); b is what
       QEMU would have sent, counted, not carried
    P  postcopy: empty; the device state follows at once and the destination runs on it while the rest
       of the RAM passes come (migrate-start-postcopy)
    S  device state: JSON, the whole VM state (fakeqemu.machine.migration.vmstate)
    E  end: empty; the stream is complete

A paused postcopy (migrate-pause, or a broken stream) is resumed on a new connection whose first frame,
after magic and version, is

    Q  resume: empty; the RAM frames left, then E, follow

Version 2 added P and Q.

A payload is at most ``MAX_FRAME`` bytes. Any other magic, version, kind or length is a StreamError, with
the text QEMU uses for the same fault where there is one.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

MAGIC = b"FAKEQEMU-MIGRATION\n"
VERSION = 2
KINDS = frozenset(b"HRPSEQ")
MAX_FRAME = 64 * 1024 * 1024
_HEAD = struct.Struct(">cI")


class StreamError(Exception):
    """The incoming stream is not one this fakeqemu can load."""


@dataclass(frozen=True, slots=True)
class Frame:
    kind: str
    data: dict[str, Any]


def preamble() -> bytes:
    return MAGIC + struct.pack(">I", VERSION)


def frame(kind: str, data: dict[str, Any] | None = None) -> bytes:
    payload = b"" if data is None else json.dumps(data, separators=(",", ":")).encode()
    return _HEAD.pack(kind.encode(), len(payload)) + payload


class Decoder:
    """Feed bytes as they come; ``frames()`` returns the complete frames so far, in order."""

    __slots__ = ("_buf", "_started", "done")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._started = False
        self.done = False

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        out: list[Frame] = []
        if not self._started:
            need = len(MAGIC) + 4
            if len(self._buf) < need:
                if not MAGIC.startswith(bytes(self._buf[: len(MAGIC)])):
                    raise StreamError("Not a migration stream")
                return out
            if bytes(self._buf[: len(MAGIC)]) != MAGIC:
                raise StreamError("Not a migration stream")
            (version,) = struct.unpack_from(">I", self._buf, len(MAGIC))
            if version != VERSION:
                raise StreamError(f"Unsupported migration stream version {version}")
            del self._buf[:need]
            self._started = True
        while len(self._buf) >= _HEAD.size and not self.done:
            kind_b, length = _HEAD.unpack_from(self._buf)
            if kind_b[0] not in KINDS:
                raise StreamError(f"Unknown savevm section type {kind_b[0]}")
            if length > MAX_FRAME:
                raise StreamError(f"migration frame of {length} bytes is over the limit")
            if len(self._buf) < _HEAD.size + length:
                break
            payload = bytes(self._buf[_HEAD.size : _HEAD.size + length])
            del self._buf[: _HEAD.size + length]
            kind = kind_b.decode()
            try:
                data = json.loads(payload) if payload else {}
            except ValueError:
                raise StreamError(f"bad {kind} frame") from None
            if not isinstance(data, dict):
                raise StreamError(f"bad {kind} frame")
            out.append(Frame(kind, data))
            if kind == "E":
                self.done = True
        return out
