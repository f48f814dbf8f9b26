"""``-netdev socket`` and ``netdev_add type=socket`` against QEMU 7.2: the start-up refusals (same stderr
and exit status), netdev_add's errors, and a socket passed with getfd that carries a NIC's announce frames
until netdev_del closes it (the peer then reads EOF: QEMU closes the socket at once)."""

from __future__ import annotations

import json
import socket
import subprocess
from typing import Any

import pytest

from tests.differential.test_announce import stream_frames
from tests.oracle import Target, fakeqemu_target, qemu_target
from tools.launch import BARE, Emulator, Monitor

BASE = ("-M", "none", "-display", "none", "-nodefaults")

REFUSED = [
    ("fd-not-open", "socket,fd=99,id=hs0"),
    ("fd-not-a-socket", "socket,fd=0,id=hs0"),
    ("fd-not-a-number", "socket,fd=x,id=hs0"),
    ("no-address", "socket,id=hs0"),
    ("fd-and-connect", "socket,fd=0,connect=127.0.0.1:1,id=hs0"),
    ("localaddr-with-fd", "socket,fd=0,localaddr=1.2.3.4,id=hs0"),
    ("seqpacket", "socket,fd=SEQ,id=hs0"),
]


def _refusal(target: Target, netdev: str) -> tuple[int, str]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as seq:
        netdev = netdev.replace("SEQ", str(seq.fileno()))
        res = subprocess.run(
            target.command([*BASE, "-netdev", netdev]),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            pass_fds=(seq.fileno(),),
        )
        return res.returncode, res.stderr.replace(str(seq.fileno()), "SEQ")


@pytest.mark.qemu
@pytest.mark.parametrize(("name", "netdev"), REFUSED, ids=[n for n, _ in REFUSED])
def test_start_up_refusals_like_qemu(qemu_binary: str, name: str, netdev: str) -> None:
    expected = _refusal(qemu_target(), netdev)
    assert expected[0] == 1
    assert _refusal(fakeqemu_target(), netdev) == expected


def _reply(mon: Monitor, execute: str, arguments: dict[str, Any] | None = None, fds: list[int] | None = None) -> str:
    msg: dict[str, Any] = {"execute": execute}
    if arguments is not None:
        msg["arguments"] = arguments
    data = json.dumps(msg).encode()
    if fds:
        socket.send_fds(mon.sock, [data], fds)
    else:
        mon.sock.sendall(data)
    while "event" in (reply := mon.line()):
        pass
    return f"{execute} -> {json.dumps(reply)}"


def _hotplugged(target: Target) -> list[str]:
    out: list[str] = []
    ours, theirs = socket.socketpair()
    with Emulator(prefix="netdev-") as emu:
        emu.start(target.command(["-M", "pc", *BARE, "-S", "-qmp", f"unix:{emu.path('qmp.sock')},server=on,wait=off"]))
        mon = Monitor(emu.connect("qmp.sock"))
        try:
            socket_args = {"type": "socket", "id": "s0"}
            out.append(_reply(mon, "netdev_add", socket_args))
            out.append(_reply(mon, "netdev_add", {**socket_args, "fd": "nofd"}))
            out.append(_reply(mon, "netdev_add", {**socket_args, "fd": "99"}))
            out.append(_reply(mon, "netdev_add", {**socket_args, "fd": "9x"}))
            out.append(_reply(mon, "netdev_add", {**socket_args, "fd": "0", "listen": "127.0.0.1:1"}))
            out.append(_reply(mon, "getfd", {"fdname": "net"}, [theirs.fileno()]))
            theirs.close()
            out.append(_reply(mon, "netdev_add", {**socket_args, "fd": "net"}))
            out.append(_reply(mon, "netdev_add", {**socket_args, "fd": "net"}))  # claimed: gone from the table
            out.append(_reply(mon, "device_add", {"driver": "virtio-net-pci", "netdev": "s0", "id": "n0"}))
            out.append(_reply(mon, "cont"))
            out.append(_reply(mon, "announce-self", {"initial": 1, "max": 1, "rounds": 1, "step": 1}))
            out.append(_reply(mon, "human-monitor-command", {"command-line": "info network"}))
            out.append(_reply(mon, "netdev_del", {"id": "s0"}))
            out += [frame.hex() for frame in stream_frames(ours)]  # to EOF: netdev_del closed the socket
            out.append(_reply(mon, "announce-self", {"initial": 1, "max": 1, "rounds": 1, "step": 1}))
            out.append(_reply(mon, "human-monitor-command", {"command-line": "info network"}))
            out.append(_reply(mon, "quit"))
        finally:
            mon.close()
            ours.close()
    return [line.replace(f"fd={theirs_fd}", "fd=N") for line in out for theirs_fd in [_fd_in(line)]]


def _fd_in(line: str) -> str:
    """The fd number info network shows (the process's own: it differs between the two)."""
    start = line.find("socket: fd=")
    if start < 0:
        return "-"
    digits = line[start + len("socket: fd=") :]
    return digits[: len(digits) - len(digits.lstrip("0123456789"))]


@pytest.mark.qemu
def test_netdev_add_socket_like_qemu(qemu_binary: str) -> None:
    expected = _hotplugged(qemu_target())
    assert any(len(line) == 120 for line in expected)  # the frame read before netdev_del
    assert _hotplugged(fakeqemu_target()) == expected
