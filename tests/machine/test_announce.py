"""Self-announce on a Machine whose clock the test moves: the rounds' schedule, named timers, rounds 0,
interfaces, frames held while the VM does not run, a full socket, a NIC with no socket peer, and
virtio-net's guest announce."""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from fakeqemu.machine.core.qdev import PCIDevice
from fakeqemu.machine.machine import Machine, MachineConfig
from fakeqemu.machine.net.announce import AnnounceParameters, rarp_frame
from fakeqemu.machine.net.guest import guest_announce
from fakeqemu.machine.net.sockets import QUEUE_MAX, NetdevError, NetSocket, open_listen, parse_host_port
from fakeqemu.machine.pci.virtio import ISR, VirtioTransport
from fakeqemu.qmp.errors import QMPError

MAC = "52:54:00:12:34:56"
FRAME = rarp_frame(bytes.fromhex(MAC.replace(":", "")))


class Vm:
    def __init__(self, peer: socket.socket, paused: bool = False) -> None:
        self.now = 0.0
        cfg = MachineConfig(
            machine_type="pc",
            qtest=True,
            paused=paused,
            netdevs=[{"type": "socket", "fd": str(peer.fileno()), "id": "s0"}],
            devices=[
                {"driver": "virtio-net-pci", "netdev": "s0", "id": "n0", "mac": MAC},
                {"driver": "e1000", "id": "n1", "mac": "52:54:00:00:00:01"},  # no netdev: frames go nowhere
            ],
        )
        self.machine = Machine(cfg, monotonic=lambda: self.now)

    def at(self, t: float) -> None:
        self.now = t
        self.machine.timers.run_due()

    def announce(self, **args: object) -> None:
        params = {"initial": 10, "max": 100, "rounds": 3, "step": 5, **args}
        self.machine.announcer.announce_self(AnnounceParameters.from_args(params))


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def frames(sock: socket.socket) -> list[bytes]:
    """The length-prefixed frames waiting on ``sock``."""
    data = b""
    sock.setblocking(False)
    while True:
        try:
            data += sock.recv(65536)
        except BlockingIOError:
            break
    out = []
    while data:
        (n,) = struct.unpack(">I", data[:4])
        out.append(data[4 : 4 + n])
        data = data[4 + n :]
    return out


def test_rounds_follow_initial_step_and_max(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    vm = Vm(b)
    try:
        vm.announce(rounds=4, initial=10, step=50, max=40)  # delays 10, then 60 -> max 40, 40
        assert frames(a) == [FRAME]
        vm.at(0.009)
        assert frames(a) == []
        vm.at(0.010)
        assert frames(a) == [FRAME]
        vm.at(0.049)
        assert frames(a) == []
        vm.at(0.050)
        vm.at(0.090)
        assert frames(a) == [FRAME, FRAME]
        vm.at(10.0)
        assert frames(a) == []
        assert vm.machine.announcer.named == {}
    finally:
        vm.machine.close()


def test_rounds_zero_stops_only_that_id(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    vm = Vm(b)
    try:
        vm.announce(id="bob", rounds=300)
        vm.announce(id="alice", rounds=2, interfaces=["n0"])
        assert frames(a) == [FRAME, FRAME]
        vm.announce(id="bob", rounds=0)
        assert set(vm.machine.announcer.named) == {"alice"}
        vm.at(5.0)
        assert frames(a) == [FRAME]  # alice's second round; bob's are gone
        vm.announce(rounds=1, interfaces=["n1"])  # the e1000 has no netdev
        vm.announce(rounds=1, interfaces=[])
        assert frames(a) == []
    finally:
        vm.machine.close()


def test_frames_wait_while_paused_and_stop_drops_them(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    vm = Vm(b, paused=True)
    try:
        vm.announce(rounds=2)
        vm.at(1.0)
        assert frames(a) == []
        vm.machine.cont()
        assert frames(a) == [FRAME, FRAME]
        vm.machine.stop()
        vm.announce(rounds=1)
        net = vm.machine.backends.netdevs["s0"]["socket"]
        assert len(net.queue) == 1
        vm.machine.close()
        assert frames(a) == []
    finally:
        vm.machine.close()


def test_a_full_socket_keeps_the_frames_in_order() -> None:
    a, b = socket.socketpair()
    blocked: list[NetSocket] = []
    net = NetSocket(b)
    net.on_blocked = blocked.append
    try:
        big = bytes(range(256)) * 64
        n = 0
        while not blocked:
            net.receive(big[: 1000 + n % 7], running=True)
            n += 1
        assert n > 1 and len(net.queue) >= 1
        held = len(net.queue)
        for extra in range(QUEUE_MAX + 5):
            net.receive(b"x" * (extra % 3 + 1), running=True)
        assert len(net.queue) == QUEUE_MAX  # more are dropped
        got = b""
        a.setblocking(False)
        while not net.flush():
            got += a.recv(1 << 20)
        while True:
            try:
                got += a.recv(1 << 20)
            except BlockingIOError:
                break
        sizes = []
        while got:
            (size,) = struct.unpack(">I", got[:4])
            sizes.append(size)
            got = got[4 + size :]
        assert sizes[:n] == [1000 + i % 7 for i in range(n)]
        assert len(sizes) == n + QUEUE_MAX - held
        assert sizes[n:] == [extra % 3 + 1 for extra in range(QUEUE_MAX - held)]
    finally:
        net.close()
        a.close()


def test_virtio_net_guest_announce() -> None:
    rec = {"features": (1 << 17) | (1 << 21), "queue_sizes": [256], "device_config": "00" * 12}
    virtio = VirtioTransport(rec, {}, 0)
    virtio.net = True
    dev = SimpleNamespace(pci_function=SimpleNamespace(virtio=virtio))
    guest_announce(dev)
    assert virtio.device_config[6] == 0  # no driver yet
    virtio.negotiated = (1 << 17) | (1 << 21)
    virtio.status = 0x08  # FEATURES_OK, not yet DRIVER_OK: the bit, no interrupt
    guest_announce(dev)
    assert virtio.device_config[6] == 2 and virtio.isr == 0
    virtio.status = 0x0F
    guest_announce(dev)
    assert virtio.read(ISR, 0, 1) == 3 and virtio.config_generation == 1
    virtio.reset()
    assert virtio.device_config[6] == 0
    guest_announce(SimpleNamespace())  # not a PCI function: nothing


def test_parse_host_port_as_qemu() -> None:
    assert parse_host_port(":80x") == ("0.0.0.0", 80)
    assert parse_host_port("127.1:0x10") == ("127.0.0.1", 16)
    assert parse_host_port("1.2.3.4:65537") == ("1.2.3.4", 1)
    for bad, message in [
        ("nohost", "host address 'nohost' doesn't contain ':' separating host from port"),
        ("1.2.3.4:", "port number '' is invalid"),
        ("300.1.1.1:1", "host address '300.1.1.1' is not a valid IPv4 address"),
    ]:
        with pytest.raises(NetdevError, match=re.escape(message)):
            parse_host_port(bad)


def test_a_peer_that_goes_takes_the_link_down() -> None:
    net = open_listen("127.0.0.1:0")
    assert net.listener is not None
    port = net.listener.getsockname()[1]
    try:
        assert not net.accept()  # nobody yet
        peer = socket.create_connection(("127.0.0.1", port))
        while not net.accept():
            pass
        assert net.info.startswith("socket: connection from 127.0.0.1:")
        assert net.peer_state() == "nothing"
        net.receive(FRAME, running=True)
        peer.settimeout(20)
        assert peer.recv(64) == struct.pack(">I", 60) + FRAME
        peer.close()
        while net.peer_state() == "nothing":
            pass
        assert net.sock is None and net.info == "" and net.listener is not None
        net.receive(FRAME, running=True)  # link down: dropped
        assert not net.queue
    finally:
        net.close()


def test_set_link_drops_frames_and_tells_a_virtio_driver(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    vm = Vm(b)
    try:
        with pytest.raises(QMPError, match="Device 'nope' not found"):
            vm.machine.set_link("nope", False)
        nic = vm.machine.backends.nics()[0]
        assert vm.machine.pci_host is not None and isinstance(nic.device, PCIDevice)
        virtio = vm.machine.pci_host.function(nic.device).virtio
        assert virtio is not None and virtio.device_config[6] & 1
        virtio.status = 0x0F  # a driver is up: the change raises a config interrupt
        vm.machine.set_link("s0", False)  # the netdev: its NIC peer goes down too
        assert nic.link_down and not virtio.device_config[6] & 1 and virtio.isr == 3
        vm.announce(rounds=1)
        vm.machine.set_link("n0", True)  # the NIC only: the netdev's link stays down
        vm.announce(rounds=1)
        assert frames(a) == []
        vm.machine.set_link("s0", True)
        vm.announce(rounds=1)
        assert frames(a) == [FRAME]
    finally:
        vm.machine.close()
