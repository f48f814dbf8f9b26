"""Self-announce against QEMU 7.2: announce-self (named timers, interfaces, rounds 0), HMP announce_self
with the migration announce parameters, the frames a paused VM holds until it runs, and the argument
errors; each NIC's frames read from the other end of its ``-netdev socket,fd=`` socketpair (a stream:
length-prefixed; a datagram socket: one frame each). The script waits for the timers' end in the trace
(``qemu_announce_timer_del``), never for a time; the frames are read once the process has exited, so
their count is exact. Transcript: the QMP replies, the frames of each socket, the announce trace lines."""

from __future__ import annotations

import json
import re
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.oracle import Target, fakeqemu_target, qemu_target
from tools.launch import BARE, Emulator, Monitor, recv_exact

NIC0 = "52:54:00:12:34:56"
NIC1 = "52:54:00:ab:cd:ef"


class Run:
    def __init__(self, emu: Emulator, mon: Monitor) -> None:
        self.emu = emu
        self.mon = mon
        self.out: list[str] = []
        self.ended = 0

    def qmp(self, execute: str, arguments: dict[str, Any] | None = None) -> None:
        msg: dict[str, Any] = {"execute": execute}
        if arguments is not None:
            msg["arguments"] = arguments
        self.mon.sock.sendall(json.dumps(msg).encode())
        while "event" in (reply := self.mon.line()):
            pass
        self.out.append(f"{execute} -> {json.dumps(reply)}")

    def hmp(self, line: str) -> None:
        self.qmp("human-monitor-command", {"command-line": line})

    def timer_ends(self, tid: str) -> None:
        """Wait for the next timer to delete itself (its last round done, or rounds 0): ``tid``'s."""
        self.ended += 1
        self.emu.wait_log(rf"(?:free named: 1 free timer: \d id: [^\n]*\n[^$]*?){{{self.ended}}}")
        ended = re.findall(r"free named: 1 free timer: \d id: (.*)", self.emu.stderr())
        assert ended[self.ended - 1] == tid, ended


@contextmanager
def vm(target: Target) -> Iterator[tuple[Run, socket.socket, socket.socket]]:
    stream, stream_peer = socket.socketpair()
    dgram, dgram_peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    emu = Emulator(prefix="announce-")
    try:
        fds = (stream_peer.fileno(), dgram_peer.fileno())
        args = [
            *("-M", "pc", *BARE, "-S", "-qmp", f"unix:{emu.path('qmp.sock')},server=on,wait=off"),
            *("-netdev", f"socket,fd={fds[0]},id=s0", "-device", f"virtio-net-pci,netdev=s0,id=n0,mac={NIC0}"),
            *("-netdev", f"socket,fd={fds[1]},id=s1", "-device", f"e1000,netdev=s1,id=n1,mac={NIC1}"),
            *("-trace", "qemu_announce*"),
        ]
        emu.start(target.command(args), pass_fds=fds, log=True)
        stream_peer.close()
        dgram_peer.close()
        mon = Monitor(emu.connect("qmp.sock"))
        try:
            yield Run(emu, mon), stream, dgram
        finally:
            mon.close()
    finally:
        stream.close()
        dgram.close()
        emu.close()


def stream_frames(sock: socket.socket) -> list[bytes]:
    """The length-prefixed frames on a stream socket, read to EOF."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    out = []
    while data:
        (n,) = struct.unpack(">I", data[:4])
        out.append(data[4 : 4 + n])
        data = data[4 + n :]
    return out


def frames_of(stream: socket.socket, dgram: socket.socket) -> list[str]:
    """Everything the process sent, read after it exited: the stream to EOF, the datagrams queued."""
    out = [f"s0 {frame.hex()}" for frame in stream_frames(stream)]
    dgram.setblocking(False)
    while True:
        try:
            out.append(f"s1 {dgram.recv(65536).hex()}")
        except BlockingIOError:
            return out


def script(target: Target) -> list[str]:
    with vm(target) as (run, stream, dgram):
        run.hmp("info network")
        run.qmp("announce-self", {})
        run.qmp("announce-self", {"initial": 1, "max": 2, "rounds": 1})
        run.qmp("announce-self", {"initial": "1", "max": 2, "rounds": 1, "step": 1})
        run.qmp("announce-self", {"initial": 1, "max": 2, "rounds": 1, "step": 1, "bogus": 1})
        run.qmp("announce-self", {"initial": 1, "max": 2, "rounds": 1, "step": 1, "interfaces": "n0"})
        run.qmp("announce-self", {"initial": 1, "max": 2, "rounds": 1, "step": 1.5})
        # paused (-S): the frames wait in the netdevs' queues until the VM runs
        run.qmp("announce-self", {"initial": 1, "max": 3, "rounds": 3, "step": 1, "id": "held"})
        run.timer_ends("held")
        run.qmp("cont")
        run.qmp("announce-self", {"initial": 1, "max": 50, "rounds": 4, "step": 2, "interfaces": ["n1"], "id": "x"})
        run.timer_ends("x")
        run.qmp("announce-self", {"initial": 1, "max": 2, "rounds": 2, "step": 1, "interfaces": [], "id": "none"})
        run.timer_ends("none")
        run.qmp("announce-self", {"initial": 1, "max": 2, "rounds": 0, "step": 1, "id": "zero"})
        run.timer_ends("zero")
        run.qmp("announce-self", {"initial": 1, "max": 2, "rounds": 2, "step": 1})  # no id: the "" timer
        run.timer_ends("")
        # HMP takes the migration announce parameters
        for params in ({"announce-step": 0}, {"announce-initial": 100001}, {"announce-rounds": 1001}):
            run.qmp("migrate-set-parameters", params)
        run.qmp("migrate-set-parameters", {"announce-initial": 1, "announce-max": 4, "announce-rounds": 2})
        run.qmp("migrate-set-parameters", {"announce-step": 1})
        run.hmp("announce_self n0,nope hmp")
        run.timer_ends("hmp")
        run.hmp("announce_self")
        run.timer_ends("")
        run.hmp("announce_self n1 a b")
        run.hmp('announce_self "n1')
        # stopped again: what the timers send now is held, and dropped when the VM quits
        run.qmp("stop")
        run.qmp("announce-self", {"initial": 1, "max": 2, "rounds": 2, "step": 1, "id": "dropped"})
        run.timer_ends("dropped")
        run.qmp("quit")
        assert run.emu.proc is not None
        run.out.append(f"exit {run.emu.proc.wait(20)}")
        run.out += frames_of(stream, dgram)
        run.out += [line for line in run.emu.stderr().splitlines() if line.startswith("qemu_announce")]
        return run.out


@pytest.mark.qemu
def test_announce_like_qemu(qemu_binary: str) -> None:
    expected = script(qemu_target())
    assert sum(line.startswith("s0 ") for line in expected) == 3 + 2 + 2 + 2  # held, none (empty list), "", hmp x2
    assert script(fakeqemu_target()) == expected


def _migrated(target: Target, paused: bool) -> list[str]:
    """A migration's destination announces itself with its announce-* parameters (its own timer, no id)
    once loaded: the frames come on the destination's socket, none on the source's; a destination
    started with -S (libvirt's way) holds them until ``cont``."""
    pairs = [socket.socketpair(), socket.socketpair()]
    out: list[str] = []
    with Emulator(prefix="announce-src-") as src, Emulator(prefix="announce-dst-") as dst:
        dst_args = ["-incoming", "defer", *(["-S"] if paused else [])]
        for emu, (_, theirs), extra in ((src, pairs[0], []), (dst, pairs[1], dst_args)):
            args = [
                *("-M", "pc", *BARE, "-qmp", f"unix:{emu.path('qmp.sock')},server=on,wait=off"),
                *("-netdev", f"socket,fd={theirs.fileno()},id=s0"),
                *("-device", f"virtio-net-pci,netdev=s0,id=n0,mac={NIC0}", "-trace", "qemu_announce*", *extra),
            ]
            emu.start(target.command(args), pass_fds=[theirs.fileno()], log=True)
            theirs.close()
        smon, dmon = Monitor(src.connect("qmp.sock")), Monitor(dst.connect("qmp.sock"))
        try:
            params = {"announce-initial": 1, "announce-max": 3, "announce-rounds": 3, "announce-step": 1}
            dmon.cmd("migrate-set-parameters", params)
            dmon.cmd("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})
            dmon.cmd("migrate-incoming", {"uri": f"unix:{dst.path('mig.sock')}"})
            smon.cmd("migrate", {"uri": f"unix:{dst.path('mig.sock')}"})
            dmon.until("MIGRATION", status="completed")
            dst.wait_log(r"free named: 1 free timer: 0 id: \(null\)")
            if paused:
                dmon.cmd("cont")
            for mon, emu in ((dmon, dst), (smon, src)):
                mon.cmd("quit")
                assert emu.proc is not None
                out.append(f"exit {emu.proc.wait(20)}")
            for name, (ours, _) in zip(("src", "dst"), pairs, strict=True):
                out += [f"{name} {frame.hex()}" for frame in stream_frames(ours)]
            out += [line for line in dst.stderr().splitlines() if line.startswith("qemu_announce")]
        finally:
            smon.close()
            dmon.close()
            for ours, _ in pairs:
                ours.close()
    return out


@pytest.mark.qemu
@pytest.mark.parametrize("paused", [False, True], ids=["running", "paused"])
def test_migration_destination_announces_like_qemu(qemu_binary: str, paused: bool) -> None:
    expected = _migrated(qemu_target(), paused)
    assert sum(line.startswith("dst ") for line in expected) == 3
    assert _migrated(fakeqemu_target(), paused) == expected


def _links(target: Target) -> list[str]:
    """set_link on a NIC or on its netdev: announce frames pass only while both links are up; the errors
    of both monitors."""
    with vm(target) as (run, stream, dgram):
        run.qmp("cont")
        run.qmp("set_link", {"name": "nope", "up": False})
        run.hmp("set_link nope off")
        run.hmp("set_link n0 maybe")
        run.hmp("set_link n0")
        run.hmp("set_link")
        run.hmp("set_link n0 off x")
        for name, up in [("n0", False), ("n0", True), ("s1", False), ("s0", True), ("s1", True)]:
            run.qmp("set_link", {"name": name, "up": up})
            run.qmp("announce-self", {"initial": 1, "max": 2, "rounds": 1, "step": 1, "id": f"{name}{up}"})
        run.hmp("set_link s0 off")
        run.qmp("announce-self", {"initial": 1, "max": 2, "rounds": 1, "step": 1})
        run.qmp("quit")
        assert run.emu.proc is not None
        run.out.append(f"exit {run.emu.proc.wait(20)}")
        run.out += frames_of(stream, dgram)
        return run.out


@pytest.mark.qemu
def test_set_link_like_qemu(qemu_binary: str) -> None:
    expected = _links(qemu_target())
    assert sum(line.startswith("s0 ") for line in expected) == 4
    assert _links(fakeqemu_target()) == expected


def _full_socket(target: Target) -> list[str]:
    """A peer that reads nothing until the timer is done: the socket fills, the rest waits in the
    netdev's queue and goes out, in order, as the peer reads (QEMU's write poll; fakeqemu's runtime)."""
    rounds = 300
    ours, theirs = socket.socketpair()
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    with ours, Emulator(prefix="announce-") as emu:
        args = [
            *("-M", "pc", *BARE, "-qmp", f"unix:{emu.path('qmp.sock')},server=on,wait=off"),
            *("-netdev", f"socket,fd={theirs.fileno()},id=s0", "-device", f"e1000,netdev=s0,mac={NIC0}"),
            *("-trace", "qemu_announce_timer_del"),
        ]
        emu.start(target.command(args), pass_fds=[theirs.fileno()], log=True)
        theirs.close()
        mon = Monitor(emu.connect("qmp.sock"))
        try:
            mon.cmd("announce-self", {"initial": 1, "max": 1, "rounds": rounds, "step": 0, "id": "many"})
            emu.wait_log("free named: 1 free timer: 1 id: many")
            ours.settimeout(20)
            frames = []
            for _ in range(rounds):
                (n,) = struct.unpack(">I", recv_exact(ours, 4))
                frames.append(recv_exact(ours, n))
            mon.cmd("quit")
        finally:
            mon.close()
        return [f"{len(frames)} frames", *sorted({f.hex() for f in frames})]


@pytest.mark.qemu
def test_a_full_socket_like_qemu(qemu_binary: str) -> None:
    expected = _full_socket(qemu_target())
    assert expected[0] == "300 frames" and len(expected) == 2
    assert _full_socket(fakeqemu_target()) == expected
