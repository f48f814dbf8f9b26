"""The SPICE link handshake, sans I/O (QEMU's answers are compared in tests/cli/test_spice.py)."""

from __future__ import annotations

import struct

from fakeqemu.protocols.spice import SpiceLink

KEY = b"\x30" * 162


def server(password: bytes = b"pw", sessions: tuple[int, ...] = ()) -> SpiceLink:
    return SpiceLink(lambda: KEY, lambda t: t[:8], lambda p: p == password, lambda c: c in sessions,
                     lambda: 0x80000001, lambda: 1234)  # fmt: skip


def hello(channel_type: int = 1, connection_id: int = 0, caps: int = 0x0B) -> bytes:
    mess = struct.pack("<IBBIII", connection_id, channel_type, 0, 1, 0, 18) + struct.pack("<I", caps)
    return b"REDQ" + struct.pack("<III", 2, 2, len(mess)) + mess


def test_main_channel_without_auth_selection_and_mini_header() -> None:
    link = server()
    reply = link.receive(hello(caps=0x02))  # auth SPICE only: the ticket follows at once
    assert reply[:16] == b"REDQ" + struct.pack("<III", 2, 2, 186) and reply[16:20] == b"\0\0\0\0"
    out = link.receive(b"pw\0".ljust(128, b"\0"))
    assert out[:4] == b"\0\0\0\0" and link.linked
    serial, kind, size, sub = struct.unpack("<QHII", out[4:22])  # the full header
    assert (serial, kind, size, sub) == (1, 103, 32, 0)
    assert struct.unpack("<I", out[22:26])[0] == 0x80000001  # the session id


def test_refusals() -> None:
    link = server()
    assert link.receive(hello()[:-1]) == b""  # waits for the whole message
    link.receive(hello()[-1:] + struct.pack("<I", 1))
    assert link.receive(b"nope\0".ljust(128, b"\0")) == struct.pack("<I", 7) and link.closed
    link = server(sessions=(5,))
    link.receive(hello(channel_type=3, connection_id=6) + struct.pack("<I", 1))
    assert link.receive(b"pw\0".ljust(128, b"\0")) == struct.pack("<I", 8) and not link.linked
    link = server()
    assert link.receive(hello(channel_type=2)) == b"" and link.closed  # no such channel: hang up
    link = server()
    reply = link.receive(b"XXXX" + hello()[4:])
    assert struct.unpack("<I", reply[16:20])[0] == 2 and link.closed
    link = server()
    reply = link.receive(b"REDQ" + struct.pack("<III", 3, 0, 22) + bytes(22))
    assert struct.unpack("<I", reply[16:20])[0] == 4 and link.closed
