"""The VNC server of ``-vnc``: accepts RFB clients on the bound port (fakeqemu.protocols.rfb), shows them
the guest model's screen (fakeqemu.machine.devices.framebuffer), sends an update when a waiting client's
screen changes (the run state is on it), and reports clients as QEMU does: VNC_CONNECTED,
VNC_INITIALIZED, VNC_DISCONNECTED and query-vnc's ``clients``."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from fakeqemu.machine.core.events import Event
from fakeqemu.machine.devices import framebuffer
from fakeqemu.protocols.rfb import RfbServer

if TYPE_CHECKING:
    from fakeqemu.server.vm import VM

ClientFn = Callable[["VM", trio.socket.SocketType, trio.socket.SocketType], Awaitable[None]]


def _family(sock: socket.socket | trio.socket.SocketType) -> str:
    return {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6", socket.AF_UNIX: "unix"}.get(sock.family, "ipv4")


def _basic(sock: trio.socket.SocketType, name: Any) -> dict[str, Any]:
    """VncBasicInfo, in QAPI member order."""
    if isinstance(name, tuple):
        host, port = str(name[0]), str(name[1])
    else:  # a unix socket: QEMU names its path as the service
        host, port = "", str(name or "")
    return {"host": host, "service": port, "family": _family(sock), "websocket": False}


async def serve_vnc(vm: VM, listener: socket.socket) -> None:
    await serve_display(vm, listener, _client)


async def serve_display(vm: VM, listener: socket.socket, client_fn: ClientFn) -> None:
    """A display's listener: each client it accepts is served by ``client_fn`` in a task of its own."""
    sock = trio.socket.from_stdlib_socket(listener)
    async with trio.open_nursery() as nursery:
        while True:
            client, _ = await sock.accept()
            nursery.start_soon(client_fn, vm, sock, client)


async def _client(vm: VM, listener: trio.socket.SocketType, client: trio.socket.SocketType) -> None:
    machine = vm.machine
    server = {**_basic(listener, listener.getsockname()), "auth": machine.vnc_auth.kind}
    info = _basic(client, client.getpeername())
    data = {"server": server, "client": info}
    name = f"QEMU ({machine.config.name})" if machine.config.name else "QEMU"
    rfb = RfbServer(
        framebuffer.WIDTH, framebuffer.HEIGHT, name, lambda: framebuffer.render(vm.machine), machine.vnc_auth
    )
    dirty = trio.Event()
    send_lock = trio.Lock()

    def on_event(event: Event) -> None:
        if event.name in ("STOP", "RESUME", "SHUTDOWN", "RESET"):
            dirty.set()

    unsubscribe = machine.events.subscribe(on_event)
    machine.vnc_clients.append(info)
    machine.events.emit("VNC_CONNECTED", data)

    async def send(payload: bytes) -> None:
        async with send_lock:
            view = memoryview(payload)
            while view:
                sent = await client.send(view)
                view = view[sent:]

    async def watch() -> None:
        nonlocal dirty
        while True:
            await dirty.wait()
            dirty = trio.Event()
            update = rfb.changed()
            if update:
                await send(update)

    try:
        with client:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch)
                await send(rfb.start())
                while not rfb.closed:
                    chunk = await client.recv(65536)
                    if not chunk:
                        break
                    was = rfb.initialized
                    reply = rfb.receive(chunk)
                    if reply:
                        await send(reply)
                    if rfb.initialized and not was:
                        machine.events.emit("VNC_INITIALIZED", data)
                nursery.cancel_scope.cancel()
    except OSError:
        pass
    finally:
        unsubscribe()
        if info in machine.vnc_clients:
            machine.vnc_clients.remove(info)
        machine.events.emit("VNC_DISCONNECTED", data)
