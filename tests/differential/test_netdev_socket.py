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
    ("listen-no-colon", "socket,listen=nohost,id=hs0"),
    ("listen-bad-port", "socket,listen=127.0.0.1:notaport,id=hs0"),
    ("listen-bad-ip", "socket,listen=300.1.1.1:5,id=hs0"),
    ("listen-in-use", "socket,listen=127.0.0.1:BUSY,id=hs0"),
    ("connect-no-port", "socket,connect=127.0.0.1:,id=hs0"),
    ("listen-and-connect", "socket,listen=:1,connect=127.0.0.1:1,id=hs0"),
]


def _refusal(target: Target, netdev: str) -> tuple[int, str]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as seq, socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        fd, port = str(seq.fileno()), str(busy.getsockname()[1])
        netdev = netdev.replace("SEQ", fd).replace("BUSY", port)
        res = subprocess.run(
            target.command([*BASE, "-netdev", netdev]),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            pass_fds=(seq.fileno(),),
        )
        return res.returncode, res.stderr.replace(f"fd={fd}", "fd=SEQ").replace(f":{port},", ":BUSY,")


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _info_until(mon: Monitor, text: str) -> str:
    """``info network`` asked until it shows ``text`` (QEMU takes a connection in its main loop)."""
    for _ in range(2000):
        reply = _reply(mon, "human-monitor-command", {"command-line": "info network"})
        if json.dumps(text)[1:-1] in reply:  # the reply is JSON: its CR LF escaped
            return reply
    raise AssertionError(f"info network never showed {text!r}: {reply}")


def _tcp(target: Target) -> list[str]:
    """listen= and connect= netdevs: frames go only to a connected peer; a peer that closes, or a
    refused connect=, takes the link down (info text emptied) and a listen= backend accepts again."""
    out: list[str] = []
    listen_port, closed_port = _free_port(), _free_port()
    with socket.socket() as server, Emulator(prefix="netdev-") as emu:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(20)
        connect_port = server.getsockname()[1]
        nics = [("l0", f"listen=127.0.0.1:{listen_port}"), ("c0", f"connect=127.0.0.1:{connect_port}")]
        nics.append(("x0", f"connect=127.0.0.1:{closed_port}"))
        args = ["-M", "pc", *BARE, "-qmp", f"unix:{emu.path('qmp.sock')},server=on,wait=off"]
        for n, (name, where) in enumerate(nics):
            args += ["-netdev", f"socket,{where},id={name}", "-device", f"e1000,netdev={name},mac=52:54:00:00:00:0{n}"]
        emu.start(target.command(args))
        mon = Monitor(emu.connect("qmp.sock"))
        conn_c, _ = server.accept()
        announce = {"initial": 1, "max": 1, "rounds": 1, "step": 1}
        try:
            _info_until(mon, "x0: index=0,type=socket,\r\n")  # the refused connect= is seen
            out.append(_reply(mon, "announce-self", announce))  # l0 has no peer yet: dropped
            first = socket.create_connection(("127.0.0.1", listen_port), timeout=20)
            out.append(_info_until(mon, "connection from"))
            out.append(_reply(mon, "announce-self", announce))
            first.shutdown(socket.SHUT_WR)
            out += [f"first {frame.hex()}" for frame in stream_frames(first)]
            first.close()
            out.append(_info_until(mon, "l0: index=0,type=socket,\r\n"))
            second = socket.create_connection(("127.0.0.1", listen_port), timeout=20)
            _info_until(mon, "connection from")
            out.append(_reply(mon, "announce-self", announce))
            out.append(_reply(mon, "quit"))
            assert emu.proc is not None
            out.append(f"exit {emu.proc.wait(20)}")
            out += [f"second {frame.hex()}" for frame in stream_frames(second)]
            out += [f"c0 {frame.hex()}" for frame in stream_frames(conn_c)]
            second.close()
        finally:
            mon.close()
            conn_c.close()
    ports = {str(listen_port): "LISTEN", str(connect_port): "CONNECT", str(closed_port): "CLOSED"}
    return [_scrub(line, ports) for line in out]


def _scrub(line: str, ports: dict[str, str]) -> str:
    for port, name in ports.items():
        line = line.replace(f":{port}", f":{name}")
    start = line.find("connection from 127.0.0.1:")
    if start >= 0:
        end = start + len("connection from 127.0.0.1:")
        rest = line[end:]
        line = line[:end] + "PEER" + rest[len(rest) - len(rest.lstrip("0123456789")) :]
    return line


@pytest.mark.qemu
def test_listen_and_connect_like_qemu(qemu_binary: str) -> None:
    expected = _tcp(qemu_target())
    assert sum(line.startswith("c0 ") for line in expected) == 3
    assert _tcp(fakeqemu_target()) == expected


#: net_check_clients at start-up (no default network: -nodefaults or a -netdev): what has no peer
UNPEERED = [
    ("netdev-and-nic", ["-nodefaults", "-netdev", "socket,fd=FD,id=hs0", "-netdev", "user,id=u0", "-device", "e1000"]),
    ("hub-port-alone", ["-nodefaults", "-netdev", "hubport,hubid=0,id=h0"]),
    ("hub-nic-no-host", ["-netdev", "hubport,hubid=0,id=h0", "-device", "e1000,netdev=h0"]),
    (
        "hubs",
        [
            *("-nodefaults", "-netdev", "user,id=u0", "-netdev", "hubport,hubid=0,id=h0,netdev=u0"),
            *("-netdev", "hubport,hubid=1,id=h1", "-device", "e1000,netdev=h1", "-netdev", "hubport,hubid=1,id=h2"),
        ],
    ),
    ("nic-alone", ["-nodefaults", "-device", "e1000"]),
    ("defaults", ["-device", "e1000"]),
]


def _warnings(target: Target, args: list[str]) -> str:
    ours, theirs = socket.socketpair()
    with ours, theirs, Emulator(prefix="netdev-") as emu:
        argv = [a.replace("FD", str(theirs.fileno())) for a in args]
        argv += ["-M", "pc", "-display", "none", "-qmp", f"unix:{emu.path('qmp.sock')},server=on,wait=off"]
        emu.start(target.command(argv), pass_fds=[theirs.fileno()])
        mon = Monitor(emu.connect("qmp.sock"))
        try:
            mon.cmd("quit")
        finally:
            mon.close()
        assert emu.proc is not None
        emu.proc.wait(20)
        return emu.stderr()


@pytest.mark.qemu
@pytest.mark.parametrize(("name", "args"), UNPEERED, ids=[n for n, _ in UNPEERED])
def test_unpeered_warnings_like_qemu(qemu_binary: str, name: str, args: list[str]) -> None:
    expected = _warnings(qemu_target(), args)
    assert ("has no peer" in expected or "hub" in expected) == (name != "defaults")
    assert _warnings(fakeqemu_target(), args) == expected
