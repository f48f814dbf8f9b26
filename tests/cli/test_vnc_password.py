"""``-vnc ...,password=on``: VNC authentication as QEMU 7.2 does it, checked against QEMU itself. The same
steps run on Debian's QEMU and on fakeqemu and what each answers is compared: a raw RFB 3.8 client's
security exchange (no password set yet, a wrong one, an expired one: SecurityResult 1 and "Authentication
failed"), set_password / expire_password, the VNC events and query-vnc; and a real RFB client, vncdotool
(its own DES), logs in with the password and captures the screen."""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from vncdotool.rfb import reverse_bits

from fakeqemu.protocols.rfb import des_response
from tests.oracle import fakeqemu_target, qemu_target
from tools.launch import BARE, Emulator, Monitor, recv_exact


def attempt(path: str, password: str | None) -> bytes:
    """A raw RFB 3.8 login answering the challenge for ``password`` (None: 16 zero bytes): what the server
    sent after the version (its security types, the SecurityResult and reason; the challenge itself is
    random, so only its length is kept), up to the close."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(20)
        s.connect(path)
        assert recv_exact(s, 12) == b"RFB 003.008\n"
        s.sendall(b"RFB 003.008\n")
        types = recv_exact(s, 2)
        s.sendall(types[1:2])
        challenge = recv_exact(s, 16)
        s.sendall(des_response(password, challenge) if password is not None else bytes(16))
        result = b""
        while chunk := s.recv(4096):
            result += chunk
            if result[:4] == b"\0\0\0\0":  # accepted: ClientInit, then the server's init
                s.sendall(b"\x01")
                init = recv_exact(s, 24)
                name = recv_exact(s, struct.unpack(">I", init[20:24])[0])
                return types + f"<challenge {len(challenge)}>".encode() + result + b"<init>" + name
        return types + f"<challenge {len(challenge)}>".encode() + result


def login(mon: Monitor, path: str, password: str | None) -> list[Any]:
    """``attempt`` and the events the server sent for that client."""
    return [attempt(path, password), vnc_events(mon)]


def vncdo(path: str, password: str, out: Path) -> int:
    """vncdotool's vncdo logs in and captures the screen to ``out``; its exit status."""
    argv = [sys.executable, "-c", "from vncdotool.command import vncdo; vncdo()", "-s", path, "-p", password,
            "capture", str(out)]  # fmt: skip
    return subprocess.run(argv, capture_output=True, timeout=60).returncode


def vnc_events(mon: Monitor) -> list[Any]:
    """The VNC events of one client, in order, up to its VNC_DISCONNECTED (the server sees it go)."""
    out = []
    while True:
        msg = mon.line()
        if str(msg.get("event", "")).startswith("VNC_"):
            out.append([msg["event"], msg["data"]])
            if msg["event"] == "VNC_DISCONNECTED":
                return out


def run(argv: list[str], tmp: Path) -> list[Any]:
    emu = Emulator(prefix="vncpw-")
    vnc = emu.path("vnc.sock")
    transcript: list[Any] = []
    try:
        emu.start([*argv, "-M", "pc", *BARE, "-S", "-vnc", f"unix:{vnc},password=on",
                   "-qmp", f"unix:{emu.path('qmp.sock')},server=on,wait=off"])  # fmt: skip
        mon = Monitor(emu.connect(emu.path("qmp.sock")))
        try:
            transcript.append(mon.cmd("query-vnc"))
            transcript.append(login(mon, vnc, ""))  # no password set: every client is refused
            transcript.append(mon.cmd("set_password", {"protocol": "vnc", "password": "s3cret-long"}))
            transcript.append(login(mon, vnc, "wrong"))
            transcript.append(login(mon, vnc, "s3cret-l"))  # only the first 8 characters count
            shot = tmp / f"{len(transcript)}-{os.getpid()}.png"
            transcript.append(["vncdo", vncdo(vnc, "s3cret-long", shot), shot.read_bytes()[:8]])
            transcript.append([e[0] for e in vnc_events(mon)])
            transcript.append(mon.cmd("expire_password", {"protocol": "vnc", "time": "now"}))
            transcript.append(login(mon, vnc, "s3cret-long"))
            transcript.append(mon.cmd("expire_password", {"protocol": "vnc", "time": "never"}))
            transcript.append(login(mon, vnc, "s3cret-long"))
            transcript.append(mon.cmd("query-vnc"))
        finally:
            mon.close()
    finally:
        emu.close()
    out: list[Any] = json.loads(re.sub(r"vncpw-\w+", "vncpw-DIR", json.dumps(transcript, default=repr)))
    return out


def test_vnc_password_as_qemu(qemu_binary: str, tmp_path: Path) -> None:
    expected = run(list(qemu_target().argv), tmp_path)
    actual = run([*fakeqemu_target().argv, *fakeqemu_target().extra], tmp_path)
    assert actual == expected
    refused = repr(b"\x01\x02<challenge 16>\0\0\0\x01\0\0\0\x16Authentication failed\0")
    accepted = repr(b"\x01\x02<challenge 16>\0\0\0\0<init>QEMU")
    assert [expected[i][0] for i in (1, 3, 4, 8, 10)] == [refused, refused, accepted, refused, accepted]
    assert [e[0] for e in expected[4][1]] == ["VNC_CONNECTED", "VNC_INITIALIZED", "VNC_DISCONNECTED"]
    assert expected[5][:2] == ["vncdo", 0]  # vncdotool logged in and wrote its capture
    assert expected[6] == ["VNC_CONNECTED", "VNC_INITIALIZED", "VNC_DISCONNECTED"]


@pytest.mark.parametrize("password", ["", "pw", "12345678", "longer than eight"])
def test_des_response_matches_the_rfb_reference(password: str) -> None:
    """The response a client computes (vncdotool's key bits, cryptography's DES, not pycryptodome) is the
    server's."""
    challenge = bytes(range(16))
    key = reverse_bits(password.encode()[:8].ljust(8, b"\0"))
    des = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()  # 3DES with one key repeated is DES
    assert des_response(password, challenge) == des.update(challenge) + des.finalize()
