"""query-vnc, query-vnc-servers, query-spice: the displays the command line asked for and where they are
bound (QEMU 7.2's answers with no client connected)."""

from __future__ import annotations

import ipaddress
from typing import Any

from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.devices import framebuffer
from fakeqemu.machine.devices.display import DisplayAuth
from fakeqemu.qmp.errors import DeviceNotActive, GenericError

#: the SPICE server library Debian's QEMU 7.2 is built with
SPICE_VERSION = "0.15.1"


def _family(host: str) -> str:
    try:
        return "ipv6" if ipaddress.ip_address(host).version == 6 else "ipv4"
    except ValueError:
        return "unix" if host.startswith("/") else "ipv4"


def _where(addr: tuple[str, int]) -> tuple[str, str]:
    """(host, service) as QEMU reports a bound address: a unix socket's path is its service, host empty."""
    host, port = addr
    return ("", host) if _family(host) == "unix" else (host, str(port))


@command("query-vnc")
def query_vnc(ctx: Context, args: dict[str, Any]) -> Any:
    addr = ctx.machine.config.vnc_address
    if addr is None:
        return {"enabled": False}
    host, service = _where(addr)
    return {"enabled": True, "host": host, "family": _family(addr[0]), "service": service,
            "auth": ctx.machine.vnc_auth.kind, "clients": [dict(c) for c in ctx.machine.vnc_clients]}  # fmt: skip


@command("query-vnc-servers")
def query_vnc_servers(ctx: Context, args: dict[str, Any]) -> Any:
    addr = ctx.machine.config.vnc_address
    if addr is None:
        return []
    host, service = _where(addr)
    auth = ctx.machine.vnc_auth.kind
    server = {"host": host, "service": service, "family": _family(addr[0]), "websocket": False, "auth": auth}
    clients = [dict(c) for c in ctx.machine.vnc_clients]
    return [{"id": "default", "auth": auth, "clients": clients, "server": [server]}]


@command("query-spice")
def query_spice(ctx: Context, args: dict[str, Any]) -> Any:
    addr = ctx.machine.config.spice_address
    if addr is None:
        return {"enabled": False, "migrated": False, "mouse-mode": "client"}
    host, port = addr
    return {"enabled": True, "migrated": False, "host": host, "port": port, "auth": ctx.machine.spice_auth.kind,
            "compiled-version": SPICE_VERSION, "mouse-mode": "server",
            "channels": [dict(c) for c in ctx.machine.spice_channels]}  # fmt: skip


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


def _vnc_display(ctx: Context, display: str | None) -> DisplayAuth | None:
    """vnc_display_find: the -vnc display (its id is ``default``), if there is one."""
    if ctx.machine.config.vnc_address is None or display not in (None, "default"):
        return None
    return ctx.machine.vnc_auth


def _spice(ctx: Context) -> DisplayAuth:
    """qemu_using_spice."""
    if ctx.machine.config.spice is None:
        raise DeviceNotActive("SPICE is not in use")
    return ctx.machine.spice_auth


@command("set_password")
def set_password(ctx: Context, args: dict[str, Any]) -> Any:
    """qmp_set_password: VNC takes connected=keep only; a server without password auth refuses."""
    if args["protocol"] == "spice":
        auth = _spice(ctx)
    else:
        if args.get("connected", "keep") != "keep":
            raise GenericError("Invalid parameter 'connected'")
        found = _vnc_display(ctx, args.get("display"))
        if found is None:
            raise GenericError("Could not set password")
        auth = found
    if auth.kind == "none":
        raise GenericError("Could not set password")
    auth.password = str(args["password"])
    return {}


@command("expire_password")
def expire_password(ctx: Context, args: dict[str, Any]) -> Any:
    auth = _spice(ctx) if args["protocol"] == "spice" else _vnc_display(ctx, args.get("display"))
    if auth is None:
        raise GenericError("Could not set password expire time")
    auth.expire(str(args["time"]), ctx.machine.clock())
    return {}


@command("change-vnc-password")
def change_vnc_password(ctx: Context, args: dict[str, Any]) -> Any:
    auth = _vnc_display(ctx, None)
    if auth is None or auth.kind == "none":
        raise GenericError("Could not set password")
    auth.password = str(args["password"])
    return {}
