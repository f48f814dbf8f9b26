"""The RFB 3.8 server protocol, sans I/O: handshake, pixel formats, updates, bad input."""

from __future__ import annotations

import struct

from fakeqemu.protocols.rfb import PixelFormat, RfbServer

RGB = bytes([10, 20, 30, 40, 50, 60])  # two pixels


def handshake() -> RfbServer:
    rfb = RfbServer(2, 1, "QEMU (t)", lambda: RGB)
    assert rfb.start() == b"RFB 003.008\n"
    assert rfb.receive(b"RFB 003.008\n") == b"\x01\x01"
    assert rfb.receive(b"\x01") == b"\x00\x00\x00\x00"
    init = rfb.receive(b"\x01")
    assert init[:4] == struct.pack(">HH", 2, 1) and init.endswith(b"\x00\x00\x00\x08QEMU (t)")
    assert rfb.initialized
    return rfb


def test_update_in_the_default_and_a_big_endian_format() -> None:
    rfb = handshake()
    update = rfb.receive(struct.pack(">BBHHHH", 3, 0, 0, 0, 2, 1))
    assert update[16:] == bytes([30, 20, 10, 0, 60, 50, 40, 0])  # little endian, red at bit 16
    big = PixelFormat(big_endian=True, red_shift=0, green_shift=8, blue_shift=16)
    msg = struct.pack(">B3x", 0) + big.pack() + struct.pack(">BxH", 2, 1) + struct.pack(">i", 0)
    assert rfb.receive(msg) == b""
    assert rfb.receive(struct.pack(">BBHHHH", 3, 0, 0, 0, 2, 1))[16:] == bytes([0, 30, 20, 10, 0, 60, 50, 40])
    # incremental, nothing changed: no answer until the screen changes
    assert rfb.receive(struct.pack(">BBHHHH", 3, 1, 0, 0, 2, 1)) == b"" and rfb.pending
    assert rfb.changed() == b""


def test_split_messages_keys_and_cut_text() -> None:
    rfb = handshake()
    key = struct.pack(">BBxxI", 4, 1, 0x61)
    assert rfb.receive(key[:3]) == b""
    assert rfb.receive(key[3:] + struct.pack(">BxxxI", 6, 3) + b"abc") == b""
    assert rfb.keys == [(True, 0x61)] and not rfb.closed


def test_bad_input_closes() -> None:
    rfb = RfbServer(2, 1, "x", lambda: RGB)
    rfb.receive(b"HTTP/1.1 200\n")
    assert rfb.closed and "version" in rfb.error
    rfb = RfbServer(2, 1, "x", lambda: RGB)
    rfb.receive(b"RFB 003.008\n")
    assert rfb.receive(b"\x02").startswith(b"\x00\x00\x00\x01") and rfb.closed
    rfb = handshake()
    rfb.receive(b"\x99")
    assert rfb.closed
