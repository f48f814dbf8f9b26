"""The RFB 3.8 server protocol, sans I/O: handshake, pixel formats, updates, bad input."""

from __future__ import annotations

import struct

from fakeqemu.machine.devices.display import DisplayAuth
from fakeqemu.protocols.rfb import PixelFormat, RfbServer, des_response

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


def vnc_server(password: str | None, clock: float = 100.0) -> RfbServer:
    auth = DisplayAuth("vnc")
    auth.password = password
    return RfbServer(2, 1, "QEMU", lambda: RGB, auth, now=lambda: clock, challenge=lambda n: bytes(range(n)))


def test_vnc_authentication_by_version() -> None:
    challenge = bytes(range(16))
    rfb = vnc_server("pw")  # 3.8: the type offered, chosen, the challenge, SecurityResult 0
    assert rfb.receive(b"RFB 003.008\n") == b"\x01\x02"
    assert rfb.receive(b"\x02") == challenge
    assert rfb.receive(des_response("pw", challenge)) == b"\0\0\0\0" and not rfb.closed
    rfb = vnc_server("pw")  # 3.3: the server names the type and sends the challenge at once
    assert rfb.receive(b"RFB 003.003\n") == b"\0\0\0\x02" + challenge
    assert rfb.receive(des_response("nope", challenge)) == b"\0\0\0\x01" and rfb.closed  # no reason before 3.8
    rfb = vnc_server("pw")  # 3.7: no reason either
    rfb.receive(b"RFB 003.007\n")
    rfb.receive(b"\x02")
    assert rfb.receive(bytes(16)) == b"\0\0\0\x01" and rfb.closed
    rfb = vnc_server("pw")  # a type that was not offered
    rfb.receive(b"RFB 003.008\n")
    assert rfb.receive(b"\x01") == b"\0\0\0\x01\0\0\0\x16Authentication failed\0" and rfb.closed
    rfb = vnc_server(None)  # no password set: refused whatever the answer
    rfb.receive(b"RFB 003.008\n" + b"\x02")
    assert rfb.receive(des_response("", challenge)).startswith(b"\0\0\0\x01")
    expired = DisplayAuth("vnc")
    expired.password, expired.expires = "pw", 99
    rfb = RfbServer(2, 1, "QEMU", lambda: RGB, expired, now=lambda: 100.0, challenge=lambda n: challenge)
    rfb.receive(b"RFB 003.008\n" + b"\x02")
    assert rfb.receive(des_response("pw", challenge)).startswith(b"\0\0\0\x01")
    rfb = RfbServer(2, 1, "QEMU", lambda: RGB)  # 3.3 without a password: type 1, then ClientInit
    assert rfb.receive(b"RFB 003.003\n") == b"\0\0\0\x01"
    assert rfb.receive(b"\x01")[:4] == struct.pack(">HH", 2, 1)
    rfb = RfbServer(2, 1, "QEMU", lambda: RGB)
    assert rfb.receive(b"RFB 004.001\n") == b"\0\0\0\0" and rfb.closed  # QEMU: VNC_AUTH_INVALID


def test_expire_times() -> None:
    auth = DisplayAuth("vnc")
    auth.password = "pw"
    for when, expires in (("now", 0), ("never", None), ("+30", 130), ("150", 150), ("x", 0), ("+", 100)):
        auth.expire(when, 100.5)
        assert auth.expires == expires, when
    auth.expire("+0", 100.5)
    assert auth.usable(100.9)  # QEMU compares whole seconds: expires < now
    assert not auth.usable(101.0)
