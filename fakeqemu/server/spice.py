"""The SPICE server of ``-spice port=P``: accepts clients on the bound port, runs the link handshake
(fakeqemu.protocols.spice) and reports the channels as QEMU does: SPICE_CONNECTED on connect,
SPICE_INITIALIZED once a channel is linked, SPICE_DISCONNECTED when it goes, query-spice's ``channels``.
The server's RSA key (1024 bits, as spice-server's) is made in a worker thread on the first client."""

from __future__ import annotations

import random
import socket
import time
from typing import TYPE_CHECKING, Any

import trio

from fakeqemu.protocols.spice import CHANNEL_MAIN, SpiceLink
from fakeqemu.server.vnc import serve_display

if TYPE_CHECKING:
    from fakeqemu.server.vm import VM


def _basic(name: Any, family: int) -> dict[str, Any]:
    """SpiceBasicInfo, in QAPI member order."""
    return {"host": str(name[0]), "port": str(name[1]), "family": "ipv6" if family == socket.AF_INET6 else "ipv4"}


async def serve_spice(vm: VM, listener: socket.socket) -> None:
    await serve_display(vm, listener, _client)


async def _key(vm: VM) -> Any:
    machine = vm.machine
    if machine.spice_key is None:
        from Crypto.PublicKey import RSA  # pycryptodome

        machine.spice_key = await trio.to_thread.run_sync(RSA.generate, 1024)
    return machine.spice_key


async def _client(vm: VM, listener: trio.socket.SocketType, client: trio.socket.SocketType) -> None:
    from Crypto.Cipher import PKCS1_OAEP

    machine = vm.machine
    server = _basic(listener.getsockname(), listener.family)
    peer = _basic(client.getpeername(), client.family)
    data = {"server": server, "client": peer}
    machine.events.emit("SPICE_CONNECTED", data)
    channel: dict[str, Any] | None = None
    try:
        with client:
            key = await _key(vm)

            def decrypt(ticket: bytes) -> bytes | None:
                try:
                    plain: bytes = PKCS1_OAEP.new(key).decrypt(ticket)
                except ValueError:
                    return None
                return plain

            def check(password: bytes) -> bool:
                auth = machine.spice_auth
                if auth.kind == "none":
                    return True
                return auth.usable(time.time()) and password == str(auth.password).encode()

            def session(connection_id: int) -> bool:
                mains = [c for c in machine.spice_channels if c["channel-type"] == CHANNEL_MAIN]
                return any(c["connection-id"] == _signed(connection_id) for c in mains)

            link = SpiceLink(
                lambda: bytes(key.publickey().export_key("DER")),
                decrypt,
                check,
                session,
                lambda: random.getrandbits(32),
                lambda: int(time.monotonic() * 1000),
                lambda channel_type: channel_type in _channels(vm),
            )
            while not link.closed:
                chunk = await client.recv(65536)
                if not chunk:
                    break
                reply = link.receive(chunk)
                if reply:
                    await client.send(reply)
                if link.linked and channel is None:
                    channel = _channel(peer, link)
                    machine.spice_channels.append(channel)
                    auth = {**server, "auth": machine.spice_auth.kind}
                    machine.events.emit("SPICE_INITIALIZED", {"server": auth, "client": channel})
    except OSError:
        pass
    finally:
        if channel is not None and channel in machine.spice_channels:
            machine.spice_channels.remove(channel)
        machine.events.emit("SPICE_DISCONNECTED", data)


def _channels(vm: VM) -> set[int]:
    """The channel types QEMU's SPICE server has: main and inputs, display and cursor with a QXL device."""
    types = {1, 3}
    board = vm.machine.board
    if board is not None and any(d.type in ("qxl-vga", "qxl") for d in board.peripheral.children.values()):
        types |= {2, 4}
    return types


def _channel(peer: dict[str, Any], link: SpiceLink) -> dict[str, Any]:
    """SpiceChannel, in QAPI member order."""
    ids = {"connection-id": _signed(link.connection_id), "channel-type": link.channel_type}
    return {**peer, **ids, "channel-id": link.channel_id, "tls": False}


def _signed(value: int) -> int:
    """A connection id as QMP shows it (an int32)."""
    return value - (1 << 32) if value >= 1 << 31 else value
