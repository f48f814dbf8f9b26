"""The SPICE link handshake, server side, sans I/O, as spice-server 0.15 (Debian's QEMU 7.2) answers it:
enough for a client's channel to connect and be seen (SPICE_CONNECTED / SPICE_INITIALIZED and
query-spice's channels), not a display.

The client sends a SpiceLinkHeader ("REDQ", protocol 2.2, the size of what follows) and a SpiceLinkMess
(connection id, channel type and id, its capabilities); the server answers a header and a SpiceLinkReply
(error 0, its 1024-bit RSA public key as DER SubjectPublicKeyInfo, its capabilities: common 0x0b, the
main channel's 0x0f, the inputs channel's 0x01). A channel the server does not have (display and cursor
without a QXL device, sound without a SPICE audiodev) gets no reply: the connection closes. With the
auth-selection capability the client names its mechanism (1: SPICE tickets); then it sends the password,
NUL-terminated, RSA-OAEP encrypted under that key (128 bytes). The server answers the link result: 0, or
7 (permission denied) for a wrong or expired password (no ticket is checked with disable-ticketing), 8
for a channel whose connection id names no main channel. On the main channel the server then sends
SPICE_MSG_MAIN_INIT (the session id the other channels give as their connection id) with the mini header
when the client has that capability.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from fakeqemu.protocols.steps import Stepper

MAGIC = b"REDQ"
MAJOR, MINOR = 2, 2
CHANNEL_MAIN = 1
LINK_OK, LINK_INVALID_MAGIC, LINK_VERSION_MISMATCH, LINK_PERMISSION_DENIED, LINK_BAD_CONNECTION_ID = 0, 2, 4, 7, 8
#: common capabilities: auth selection, auth SPICE, mini header (and SASL, off in Debian's QEMU)
COMMON_CAPS = 0x0B
CAP_AUTH_SELECTION, CAP_MINI_HEADER = 1 << 0, 1 << 3
#: each channel's capabilities: main (semi-seamless migration, name and UUID, agent connected tokens,
#: seamless migration), inputs (key scancodes)
CHANNEL_CAPS = {CHANNEL_MAIN: 0x0F, 3: 0x01}
MSG_MAIN_INIT = 103
_LINK_MESS = struct.Struct("<IBBIII")


class SpiceLink(Stepper):
    """One client connection's link. ``check(password)`` says whether the ticket's password opens it;
    ``session(connection_id)`` whether a main channel has that id; ``new_session()`` makes a main channel's."""

    def __init__(
        self,
        public_key: Callable[[], bytes],
        decrypt: Callable[[bytes], bytes | None],
        check: Callable[[bytes], bool],
        session: Callable[[int], bool],
        new_session: Callable[[], int],
        mm_time: Callable[[], int],
        available: Callable[[int], bool] = lambda channel_type: channel_type in CHANNEL_CAPS,
    ) -> None:
        self.available = available
        self.public_key, self.decrypt, self.check = public_key, decrypt, check
        self.session, self.new_session, self.mm_time = session, new_session, mm_time
        super().__init__()
        self.state = "header"
        self.size = 0
        self.caps = 0
        self.connection_id = 0
        self.channel_type = 0
        self.channel_id = 0
        #: the link was accepted (SPICE_INITIALIZED)
        self.linked = False

    def _close(self, why: str, reply: bytes = b"") -> bytes:
        self.error, self.closed = why, True
        return reply

    def _step(self) -> bytes | None:
        if self.state == "header":
            head = self._take(16)
            if head is None:
                return None
            major, _minor, self.size = struct.unpack("<III", head[4:])
            if head[:4] != MAGIC:
                return self._close("bad magic", self._reply_error(LINK_INVALID_MAGIC))
            if major != MAJOR or not 18 <= self.size <= 4096:
                return self._close("version mismatch", self._reply_error(LINK_VERSION_MISMATCH))
            self.state = "mess"
            return b""
        if self.state == "mess":
            mess = self._take(self.size)
            if mess is None:
                return None
            self.connection_id, self.channel_type, self.channel_id, ncommon, _nchannel, offset = _LINK_MESS.unpack(
                mess[:18]
            )
            if ncommon and offset + 4 <= len(mess):
                self.caps = struct.unpack("<I", mess[offset : offset + 4])[0]
            if not self.available(self.channel_type):
                return self._close(f"no channel of type {self.channel_type}")  # QEMU hangs up, no reply
            self.state = "mechanism" if self.caps & CAP_AUTH_SELECTION else "ticket"
            return self._reply()
        if self.state == "mechanism":
            if self._take(4) is None:
                return None
            self.state = "ticket"
            return b""
        if self.state == "ticket":
            ticket = self._take(128)
            if ticket is None:
                return None
            plain = self.decrypt(ticket)
            password = (plain or b"").split(b"\0", 1)[0]
            if plain is None or not self.check(password):
                return self._close("permission denied", struct.pack("<I", LINK_PERMISSION_DENIED))
            if self.channel_type == CHANNEL_MAIN:
                self.connection_id = self.new_session()
            elif not self.session(self.connection_id):
                return self._close("bad connection id", struct.pack("<I", LINK_BAD_CONNECTION_ID))
            self.state, self.linked = "linked", True
            out = struct.pack("<I", LINK_OK)
            if self.channel_type == CHANNEL_MAIN:
                out += self._main_init()
            return out
        self.buf = b""  # a linked channel: what the client sends is read and dropped
        return None

    def _reply(self) -> bytes:
        channel_caps = CHANNEL_CAPS.get(self.channel_type, 0)
        caps = struct.pack("<I", COMMON_CAPS) + (struct.pack("<I", channel_caps) if channel_caps else b"")
        key = self.public_key().ljust(162, b"\0")
        body = struct.pack("<I", LINK_OK) + key + struct.pack("<III", 1, 1 if channel_caps else 0, 178) + caps
        return MAGIC + struct.pack("<III", MAJOR, MINOR, len(body)) + body

    def _reply_error(self, error: int) -> bytes:
        body = struct.pack("<I", error) + bytes(162) + struct.pack("<III", 0, 0, 178)
        return MAGIC + struct.pack("<III", MAJOR, MINOR, len(body)) + body

    def _main_init(self) -> bytes:
        """SPICE_MSG_MAIN_INIT: session id, no display channel hint, server mouse mode (supported and
        current), no agent, 10 agent tokens, the multimedia time, no RAM hint."""
        body = struct.pack("<IIIIIIII", self.connection_id, 0, 1, 1, 0, 10, self.mm_time() & 0xFFFFFFFF, 0)
        if self.caps & CAP_MINI_HEADER:
            return struct.pack("<HI", MSG_MAIN_INIT, len(body)) + body
        return struct.pack("<QHII", 1, MSG_MAIN_INIT, len(body), 0) + body
