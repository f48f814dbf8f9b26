"""query-vnc, query-vnc-servers, query-spice: the displays the command line asked for and where they are
bound (QEMU 7.2's answers with no client connected)."""

from __future__ import annotations

import ipaddress
from typing import Any

from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.devices import framebuffer
from fakeqemu.qmp.errors import GenericError

#: the SPICE server library Debian's QEMU 7.2 is built with
SPICE_VERSION = "0.15.1"


def _family(host: str) -> str:
    try:
        return "ipv6" if ipaddress.ip_address(host).version == 6 else "ipv4"
    except ValueError:
        return "unix" if host.startswith("/") else "ipv4"


@command("query-vnc")
def query_vnc(ctx: Context, args: dict[str, Any]) -> Any:
    addr = ctx.machine.config.vnc_address
    if addr is None:
        return {"enabled": False}
    host, port = addr
    return {"enabled": True, "host": host, "family": _family(host), "service": str(port), "auth": "none",
            "clients": [dict(c) for c in ctx.machine.vnc_clients]}  # fmt: skip


@command("query-vnc-servers")
def query_vnc_servers(ctx: Context, args: dict[str, Any]) -> Any:
    addr = ctx.machine.config.vnc_address
    if addr is None:
        return []
    host, port = addr
    server = {"host": host, "service": str(port), "family": _family(host), "websocket": False, "auth": "none"}
    clients = [dict(c) for c in ctx.machine.vnc_clients]
    return [{"id": "default", "auth": "none", "clients": clients, "server": [server]}]


@command("query-spice")
def query_spice(ctx: Context, args: dict[str, Any]) -> Any:
    addr = ctx.machine.config.spice_address
    if addr is None:
        return {"enabled": False, "migrated": False, "mouse-mode": "client"}
    host, port = addr
    return {"enabled": True, "migrated": False, "host": host, "port": port, "auth": "none",
            "compiled-version": SPICE_VERSION, "mouse-mode": "server", "channels": []}  # fmt: skip


@command("screendump")
def screendump(ctx: Context, args: dict[str, Any]) -> Any:
    """The guest's screen, as PPM (or PNG with ``format``), written to ``filename``."""
    if not framebuffer.has_display(ctx.machine):
        raise GenericError("There is no console to take a screendump from")
    rgb = framebuffer.render(ctx.machine)
    data = framebuffer.png(rgb) if args.get("format") == "png" else framebuffer.ppm(rgb)
    path = args["filename"]
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise GenericError(f"failed to open file '{path}': {exc.strerror}") from None
    return {}
