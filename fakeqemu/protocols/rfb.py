"""The RFB protocol (VNC), server side, sans I/O, as QEMU 7.2's ui/vnc.c speaks it: feed it what the client
sent, it returns what to send back. Versions 3.3, 3.7 and 3.8 (3.4 and 3.5 are 3.3); one security type,
None (QEMU's ``auth: none``) or VNC authentication (``-vnc ...,password=on``: a 16-byte random challenge
the client encrypts with DES under its password, bits of each key byte reversed). A failed authentication,
or a type the server did not offer, gets "Authentication failed" (3.8) and the connection closes. A
framebuffer update request is answered with the whole screen in Raw encoding, in the pixel format the
client chose (32 bits per pixel true colour; QEMU's default is 32 bpp, depth 24, little endian, red at bit
16).

States: version -> security -> (challenge ->) client init -> normal. ``initialized`` turns true once the
client has sent ClientInit (QEMU's VNC_INITIALIZED); ``error`` is set and ``closed`` true on a protocol
violation or a failed authentication."""

from __future__ import annotations

import os
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from fakeqemu.machine.devices.display import DisplayAuth
from fakeqemu.protocols.steps import Stepper

VERSION = b"RFB 003.008\n"
SEC_INVALID, SEC_NONE, SEC_VNC = 0, 1, 2
#: QEMU's reason, sent with its terminating NUL (sizeof)
AUTH_FAILED = b"Authentication failed\0"


def des_response(password: str, challenge: bytes) -> bytes:
    """The VNC authentication response: the challenge encrypted (DES, ECB) with the password's first 8
    bytes, zero-padded, each byte's bits reversed (vnc_munge_des_rfb_key)."""
    from Crypto.Cipher import DES  # pycryptodome, loaded only when a password is checked

    key = bytes(int(f"{b:08b}"[::-1], 2) for b in password.encode()[:8].ljust(8, b"\0"))
    return bytes(DES.new(key, DES.MODE_ECB).encrypt(challenge))


@dataclass
class PixelFormat:
    bpp: int = 32
    depth: int = 24
    big_endian: bool = False
    true_colour: bool = True
    red_max: int = 255
    green_max: int = 255
    blue_max: int = 255
    red_shift: int = 16
    green_shift: int = 8
    blue_shift: int = 0

    def pack(self) -> bytes:
        return struct.pack(
            ">BBBBHHHBBB3x", self.bpp, self.depth, self.big_endian, self.true_colour,
            self.red_max, self.green_max, self.blue_max, self.red_shift, self.green_shift, self.blue_shift,
        )  # fmt: skip

    @classmethod
    def unpack(cls, data: bytes) -> PixelFormat:
        f = struct.unpack(">BBBBHHHBBB3x", data)
        return cls(f[0], f[1], bool(f[2]), bool(f[3]), f[4], f[5], f[6], f[7], f[8], f[9])

    def convert(self, rgb: bytes) -> bytes:
        """RGB bytes (8 bits each) in this format."""
        if self.bpp != 32 or not self.true_colour:
            raise ValueError("fakeqemu's VNC server sends 32 bits per pixel true colour only")
        shifts = (self.red_shift, self.green_shift, self.blue_shift)
        if (self.red_max, self.green_max, self.blue_max) == (255, 255, 255) and all(s % 8 == 0 for s in shifts):
            out = bytearray(len(rgb) // 3 * 4)  # each colour is one byte of the pixel: copy by stride
            for colour, shift in enumerate(shifts):
                at = 3 - shift // 8 if self.big_endian else shift // 8
                out[at::4] = rgb[colour::3]
            return bytes(out)
        order = ">" if self.big_endian else "<"
        out = bytearray(len(rgb) // 3 * 4)
        rs, gs, bs = self.red_shift, self.green_shift, self.blue_shift
        rm, gm, bm = self.red_max, self.green_max, self.blue_max
        pack = struct.Struct(order + "I").pack_into
        for i in range(len(rgb) // 3):
            r, g, b = rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]
            pack(out, 4 * i, ((r * rm // 255) << rs) | ((g * gm // 255) << gs) | ((b * bm // 255) << bs))
        return bytes(out)


#: client message type -> its fixed length (SetEncodings and ClientCutText have a variable tail)
_FIXED = {0: 20, 2: 4, 3: 10, 4: 8, 5: 6, 6: 8}


class RfbServer(Stepper):
    def __init__(
        self,
        width: int,
        height: int,
        name: str,
        screen: Callable[[], bytes],
        auth: DisplayAuth | None = None,
        now: Callable[[], float] = time.time,
        challenge: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.width, self.height, self.name = width, height, name
        self.screen = screen  # RGB bytes of the current screen
        self.auth = auth or DisplayAuth()
        self.now = now
        self.make_challenge = challenge
        self.challenge = b""
        self.minor = 8
        super().__init__()
        self.state = "version"
        self.format = PixelFormat()
        self.initialized = False
        self.keys: list[tuple[bool, int]] = []
        #: the screen last sent, and whether an incremental update request waits for a change
        self.sent: bytes | None = None
        self.pending = False

    def start(self) -> bytes:
        return VERSION

    def _fail(self, why: str) -> bytes:
        self.error, self.closed = why, True
        return b""

    def _step(self) -> bytes | None:
        if self.state == "version":
            line = self._take(12)
            if line is None:
                return None
            m = re.fullmatch(rb"RFB (\d{3})\.(\d{3})\n", line)
            if m is None:
                return self._fail(f"bad protocol version {line!r}")
            major, minor = int(m.group(1)), int(m.group(2))
            if major != 3 or minor not in (3, 4, 5, 7, 8):
                self._fail(f"unsupported protocol version {line!r}")
                return struct.pack(">I", SEC_INVALID)
            self.minor = 3 if minor in (4, 5) else minor
            sec = self.sec_type
            if self.minor == 3:  # the server picks the type
                return struct.pack(">I", sec) + self._start_auth(sec)
            self.state = "security"
            return bytes([1, sec])
        if self.state == "security":
            choice = self._take(1)
            if choice is None:
                return None
            if choice[0] != self.sec_type:
                return self._auth_failed()
            if choice[0] == SEC_NONE and self.minor >= 8:
                return struct.pack(">I", 0) + self._start_auth(SEC_NONE)
            return self._start_auth(choice[0])
        if self.state == "challenge":
            response = self._take(16)
            if response is None:
                return None
            if not self.auth.usable(self.now()) or des_response(str(self.auth.password), self.challenge) != response:
                return self._auth_failed()
            self.state = "init"
            return struct.pack(">I", 0)
        if self.state == "init":
            if self._take(1) is None:
                return None
            self.state, self.initialized = "normal", True
            name = self.name.encode()
            return (
                struct.pack(">HH", self.width, self.height) + self.format.pack() + struct.pack(">I", len(name)) + name
            )
        return self._message()

    @property
    def sec_type(self) -> int:
        return SEC_VNC if self.auth.kind == "vnc" else SEC_NONE

    def _start_auth(self, sec: int) -> bytes:
        if sec == SEC_VNC:
            self.challenge = self.make_challenge(16)
            self.state = "challenge"
            return self.challenge
        self.state = "init"
        return b""

    def _auth_failed(self) -> bytes:
        """authentication_failed: SecurityResult 1, QEMU's reason from 3.8 on, then the connection closes."""
        self.error, self.closed = "authentication failed", True
        out = struct.pack(">I", 1)
        if self.minor >= 8:
            out += struct.pack(">I", len(AUTH_FAILED)) + AUTH_FAILED
        return out

    def _message(self) -> bytes | None:
        if not self.buf:
            return None
        kind = self.buf[0]
        size = _FIXED.get(kind)
        if size is None:
            return self._fail(f"unknown client message type {kind}")
        if len(self.buf) < size:
            return None
        if kind == 2:  # SetEncodings: count at offset 2
            size += 4 * struct.unpack(">H", self.buf[2:4])[0]
        elif kind == 6:  # ClientCutText: length at offset 4
            size += struct.unpack(">I", self.buf[4:8])[0]
        msg = self._take(size)
        if msg is None:
            return None
        if kind == 0:
            fmt = PixelFormat.unpack(msg[4:20])
            if fmt.bpp != 32 or not fmt.true_colour:
                return self._fail("fakeqemu's VNC server sends 32 bits per pixel true colour only")
            self.format = fmt
        elif kind == 3:
            if msg[1] and self.screen() == self.sent:
                self.pending = True  # incremental: answered when the screen changes (``changed``)
                return b""
            return self.update()
        elif kind == 4:
            self.keys.append((bool(msg[1]), struct.unpack(">I", msg[4:8])[0]))
        return b""

    def changed(self) -> bytes:
        """The update a waiting incremental request gets once the screen changed (b"" otherwise)."""
        if not self.pending or self.screen() == self.sent:
            return b""
        return self.update()

    def update(self) -> bytes:
        """A FramebufferUpdate with the whole screen, Raw encoding."""
        self.pending = False
        self.sent = self.screen()
        head = struct.pack(">BxH", 0, 1) + struct.pack(">HHHHi", 0, 0, self.width, self.height, 0)
        return head + self.format.convert(self.sent)
