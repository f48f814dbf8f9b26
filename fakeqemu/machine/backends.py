"""Host-side backends that devices name: netdevs (netdev_add) and block nodes (blockdev-add); and the
file descriptors a management tool passed to the VM (getfd, add-fd).

fakeqemu never moves a packet or reads a byte of a disk; it keeps what a management tool defined, so that
devices can name them, QEMU's errors for missing or busy backends hold, and queries list them. Passed fds
stay open (unread) until a command closes them or the VM's machine is closed (``close``: reset, exit).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakeqemu.machine.devices.storage import BlockBackend
    from fakeqemu.machine.net.sockets import NetSocket


def close_fd(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


@dataclass
class FdsetMember:
    """One fd of an fd set (add-fd), with its opaque text."""

    fd: int
    opaque: str | None
    removed: bool = False


@dataclass
class FdTables:
    """One VM's passed fds."""

    #: monitor name -> fd name -> fd (QEMU keeps named fds per monitor)
    named: dict[str, dict[str, int]] = field(default_factory=dict)
    #: fdset id -> its fds, in the order they were added
    fdsets: dict[int, list[FdsetMember]] = field(default_factory=dict)

    def close(self) -> None:
        for table in self.named.values():
            for fd in table.values():
                close_fd(fd)
        for members in self.fdsets.values():
            for m in members:
                close_fd(m.fd)
        self.named.clear()
        self.fdsets.clear()


def has_medium(entry: dict[str, Any]) -> bool:
    """A block table entry with a node behind it: all but a legacy drive given neither file nor driver
    (an empty -drive / drive_add) or drive_del'ed while a device holds it."""
    if entry.get("anonymous"):
        return False
    opts = entry["options"]
    return not entry.get("legacy") or "file" in opts or "driver" in opts


def _type(entry: dict[str, Any]) -> str:
    return str(entry["options"].get("type", ""))


@dataclass
class NicClient:
    """A NIC's net client: its name (the device's id, or MODEL.N numbered among the clients of its model
    when it was made), its model (the driver) and MAC, and its peer: the netdev's id and options (a
    netdev deleted while a NIC uses it stays the NIC's peer, as in QEMU)."""

    name: str
    model: str
    mac: str
    device: object
    peer: tuple[str, dict[str, Any]] | None
    #: the peer's socket when it is a socket netdev (closed by netdev_del: the NIC's link is down)
    peer_socket: NetSocket | None = None
    #: set_link off: the NIC sends nothing
    link_down: bool = False


class Backends:
    __slots__ = ("blks", "blockdevs", "clients", "netdevs", "on_blocked", "on_open")

    def __init__(self) -> None:
        #: id -> {"options": the netdev_add arguments, "attached": the device using it or None,
        #: "socket": a socket netdev's NetSocket (fakeqemu.machine.net.sockets)}
        self.netdevs: dict[str, dict[str, Any]] = {}
        #: node-name -> {"options": the blockdev-add arguments, "attached": ...}
        self.blockdevs: dict[str, dict[str, Any]] = {}
        #: QEMU's net_clients in creation order: a netdev's id or a NIC
        self.clients: list[str | NicClient] = []
        #: the block devices' BlockBackends (fakeqemu.machine.devices.storage), in creation order
        self.blks: list[BlockBackend] = []
        #: set by the runtime: a socket netdev's socket is full; wait until it is writable, then flush
        self.on_blocked: Callable[[NetSocket], None] | None = None
        #: set by the runtime: a socket netdev to serve (accept a listen= connection, see a peer go)
        self.on_open: Callable[[NetSocket], None] | None = None

    def add_netdev(self, netdev_id: str, entry: dict[str, Any]) -> None:
        self.netdevs[netdev_id] = entry
        net = entry.get("socket")
        if net is not None:
            net.on_blocked = self._blocked
            if self.on_open is not None:
                self.on_open(net)
        self.clients.append(netdev_id)

    def del_netdev(self, netdev_id: str) -> dict[str, Any] | None:
        entry = self.netdevs.pop(netdev_id, None)
        if entry is not None:
            self.clients.remove(netdev_id)
            net = entry.pop("socket", None)
            if net is not None:  # qemu_cleanup_net_client: its socket is closed (a NIC peer's link goes down)
                net.close()
        return entry

    def add_nic(self, dev_id: str | None, model: str, mac: str, device: object, netdev: str | None) -> None:
        """qemu_new_nic: the NIC's client joins the list (assign_name numbers an anonymous one)."""
        if dev_id is None:
            same = sum(1 for c in self.clients if self.model_of(c) == model)
            dev_id = f"{model}.{same}"
        entry = self.netdevs.get(netdev or "")
        peer = (str(netdev), entry["options"]) if entry is not None else None
        sock = entry.get("socket") if entry is not None else None
        self.clients.append(NicClient(dev_id, model, mac, device, peer, sock))

    def _blocked(self, net: NetSocket) -> None:
        if self.on_blocked is not None:
            self.on_blocked(net)

    def sockets(self) -> list[NetSocket]:
        return [e["socket"] for e in self.netdevs.values() if e.get("socket") is not None]

    def nics(self) -> list[NicClient]:
        return [c for c in self.clients if isinstance(c, NicClient)]

    def net_running(self, running: bool) -> None:
        """net_vm_change_state_handler: the frames held while the VM did not run go out; when it stops,
        what the sockets do not take is dropped."""
        for net in self.sockets():
            if running:
                net.flush()
            else:
                net.stopped()

    def set_link(self, name: str, up: bool) -> list[NicClient] | None:
        """qmp_set_link: the net clients named ``name`` go up or down (None if there is none); a
        netdev's NIC peer goes with it. Returns the NICs whose link changed."""
        matches = [c for c in self.clients if (c.name if isinstance(c, NicClient) else c) == name]
        if not matches:
            return None
        nics = [c for c in matches if isinstance(c, NicClient)]
        for client in matches:
            if isinstance(client, str):
                self.netdevs[client]["link_down"] = not up
                net = self.netdevs[client].get("socket")
                if net is not None:
                    net.link_down = not up
        first = matches[0]
        if isinstance(first, str):  # the peer changes only when it is a NIC
            options = self.netdevs[first]["options"]
            nics += [c for c in self.nics() if c.peer is not None and c.peer[1] is options]
        for nic in nics:
            nic.link_down = not up
        return nics

    def unpeered(self, qtest: bool) -> list[str]:
        """net_check_clients' warnings: hubs (newest first, their ports newest first) with a port that
        has no peer, with host networking but no NIC, or (not under qtest) NICs but no host networking;
        then each net client with no peer, in creation order. A hub port's ``netdev=`` peers it with
        that host backend."""
        ports = {i: e["options"] for i, e in self.netdevs.items() if _type(e) == "hubport"}
        joined = {str(o.get("netdev")) for o in ports.values()} & set(self.netdevs)
        out: list[str] = []
        for hub in dict.fromkeys(str(o.get("hubid", "")) for o in reversed(ports.values())):
            has_nic = has_host = False
            for port, opts in reversed(ports.items()):
                if str(opts.get("hubid", "")) != hub:
                    continue
                if self.netdevs[port].get("attached") is not None:
                    has_nic = True
                elif str(opts.get("netdev")) in joined:
                    has_host = True
                else:
                    out.append(f"hub port {port} has no peer")
            if has_host and not has_nic:
                out.append(f"hub {hub} with no nics")
            if has_nic and not has_host and not qtest:
                out.append(f"hub {hub} is not connected to host network")
        for client in self.clients:
            if isinstance(client, NicClient):
                if client.peer is None:
                    out.append(f"nic {client.name} has no peer")
                continue
            peered = self.netdevs[client].get("attached") is not None or client in joined
            if not peered and not (client in ports and str(ports[client].get("netdev")) in joined):
                out.append(f"netdev {client} has no peer")
        return out

    def model_of(self, client: str | NicClient) -> str:
        if isinstance(client, NicClient):
            return client.model
        return str(self.netdevs[client]["options"].get("type", ""))

    def release(self, dev: object) -> None:
        """A finalized device lets go of its backends (they stay defined, as in QEMU), but a legacy drive
        (-drive, drive_add) goes with its device (blockdev_auto_del), and so does a medium no one named
        (blockdev-change-medium's ``#blockN`` nodes: the backend held their only reference)."""
        from fakeqemu.machine.block import locks

        gone = [n for n, e in self.blockdevs.items() if e.get("attached") is dev and (e.get("legacy") or n[0] == "#")]
        while gone:
            entry = self.blockdevs.pop(gone.pop())
            locks.release(entry)
            child = entry["options"].get("file")
            if isinstance(child, str) and child.startswith("#") and child in self.blockdevs:
                gone.append(child)
        self.detach(dev)

    def detach(self, dev: object) -> None:
        """The device no longer holds its backends (nor its NIC and block clients)."""
        for table in (self.netdevs, self.blockdevs):
            for entry in table.values():
                if entry.get("attached") is dev:
                    entry["attached"] = None
        self.clients = [c for c in self.clients if not (isinstance(c, NicClient) and c.device is dev)]
        self.blks = [b for b in self.blks if b.dev is not dev]

    def reset(self) -> None:
        self.close()
        self.netdevs.clear()
        self.blockdevs.clear()
        self.clients.clear()
        self.blks.clear()

    def close(self) -> None:
        """Close the fds the netdevs own (a tap's fd claimed from getfd, a socket netdev's socket)."""
        for entry in self.netdevs.values():
            for fd in entry.pop("fds", []):
                close_fd(fd)
            net = entry.pop("socket", None)
            if net is not None:
                net.close()
