"""``-spice port=P``: the SPICE link handshake on the bound port, checked against QEMU 7.2 (spice-server
0.15). The same raw client runs on Debian's QEMU and on fakeqemu and what each answers is compared: the
link reply (error, the RSA key's DER length and prefix, the capabilities), the link result for the right
and a wrong password and with disable-ticketing, SPICE_MSG_MAIN_INIT's fields (the session id is random in
both), a second channel linked with the main channel's id and one with an unknown id, the SPICE events
and query-spice's channels."""

from __future__ import annotations

import json
import re
import socket
import struct
from typing import Any

from Crypto.Cipher import PKCS1_OAEP
from Crypto.PublicKey import RSA

from tests.oracle import fakeqemu_target, qemu_target
from tools.launch import BARE, Emulator, Monitor, recv_exact


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def link(port: int, password: str, channel_type: int = 1, connection_id: int = 0) -> tuple[list[Any], socket.socket]:
    """A channel's link: what the server answered, and the connection (open, for a linked channel)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    mess = struct.pack("<IBBIII", connection_id, channel_type, 0, 1, 0, 18) + struct.pack("<I", 0x0B)
    s.sendall(b"REDQ" + struct.pack("<III", 2, 2, len(mess)) + mess)
    head = recv_exact(s, 16)
    if len(head) < 16:
        return ["closed", head.hex()], s
    body = recv_exact(s, struct.unpack("<I", head[12:])[0])
    error, key, caps = struct.unpack("<I", body[:4])[0], body[4:166], body[166:]
    out: list[Any] = [head[:4].decode(), struct.unpack("<III", head[4:]), error, len(key), key[:22].hex(), caps.hex()]
    if error:
        return out, s
    ticket = PKCS1_OAEP.new(RSA.import_key(key)).encrypt(password.encode() + b"\0")
    s.sendall(struct.pack("<I", 1) + ticket)
    result = struct.unpack("<I", recv_exact(s, 4))[0]
    out.append(result)
    if result == 0 and channel_type == 1:
        kind, size = struct.unpack("<HI", recv_exact(s, 6))
        init = struct.unpack("<IIIIIIII", recv_exact(s, size))
        out.append([kind, size, "<session>", *init[1:6], "<mm-time>", init[7]])
        out.append(init[0])  # the session id: the next channels' connection id
    return out, s


def events(mon: Monitor, last: str) -> list[Any]:
    """The SPICE events up to ``last``."""
    out = []
    while True:
        msg = mon.line()
        if str(msg.get("event", "")).startswith("SPICE_"):
            out.append([msg["event"], msg["data"]])
            if msg["event"] == last:
                return out


def run(argv: list[str], port: int) -> list[Any]:
    emu = Emulator(prefix="spice-")
    transcript: list[Any] = []
    opened: list[socket.socket] = []
    try:
        emu.start([*argv, "-M", "pc", *BARE, "-S", "-object", "secret,id=s0,data=abc",
                   "-spice", f"port={port},addr=127.0.0.1,password-secret=s0",
                   "-qmp", f"unix:{emu.path('qmp.sock')},server=on,wait=off"])  # fmt: skip
        mon = Monitor(emu.connect(emu.path("qmp.sock")))
        try:
            wrong, s = link(port, "wrong")
            s.close()
            transcript += [wrong, events(mon, "SPICE_DISCONNECTED")]
            display, s = link(port, "abc", channel_type=2)  # no QXL device: no display channel
            s.close()
            transcript += [display, events(mon, "SPICE_DISCONNECTED")]
            main, m = link(port, "abc")
            opened.append(m)
            session = main.pop()
            transcript += [main, events(mon, "SPICE_INITIALIZED")]
            inputs, d = link(port, "abc", channel_type=3, connection_id=session)
            opened.append(d)
            transcript += [inputs, events(mon, "SPICE_INITIALIZED")]
            transcript.append(mon.cmd("query-spice"))
            stray, x = link(port, "abc", channel_type=3, connection_id=(session + 1) & 0xFFFFFFFF)
            x.close()
            transcript += [stray, events(mon, "SPICE_DISCONNECTED")]
            d.close()
            transcript.append(events(mon, "SPICE_DISCONNECTED"))
            m.close()
            transcript.append(events(mon, "SPICE_DISCONNECTED"))
            transcript.append(mon.cmd("query-spice"))
        finally:
            mon.close()
    finally:
        for sock in opened:
            sock.close()
        emu.close()
    text = json.dumps(transcript)
    text = re.sub(r'"connection-id": -?\d+', '"connection-id": "<id>"', text)
    text = re.sub(r'"port": "?\d+"?', '"port": "<p>"', text)  # the server's free port, the clients' ports
    out: list[Any] = json.loads(text)
    return out


def test_spice_link_as_qemu(qemu_binary: str) -> None:
    expected = run(list(qemu_target().argv), free_port())
    actual = run([*fakeqemu_target().argv, *fakeqemu_target().extra], free_port())
    assert actual == expected
    assert expected[0][6] == 7 and expected[2][0] == "closed" and expected[4][6] == 0  # denied, no channel, linked
