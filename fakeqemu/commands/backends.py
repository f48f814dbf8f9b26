"""Backend commands: netdev_add / netdev_del (QEMU 7.2's errors); block nodes are in fakeqemu.commands.block."""

from __future__ import annotations

from typing import Any

from fakeqemu.commands.fds import claim_netdev_fds, release
from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.config import IDENTIFIER
from fakeqemu.machine.net.sockets import NetdevError, check_socket, open_netdev, parse_fd
from fakeqemu.qmp.errors import DeviceNotFound, GenericError


@command("netdev_add")
def netdev_add(ctx: Context, args: dict[str, Any]) -> Any:
    netdev_id = args["id"]
    if not IDENTIFIER.fullmatch(netdev_id):
        raise GenericError("Parameter 'id' expects an identifier")
    table = ctx.machine.backends.netdevs
    if netdev_id in table:
        raise GenericError(f"Duplicate ID '{netdev_id}'")
    if args.get("type") == "socket":
        try:
            check_socket(args)
        except NetdevError as exc:
            raise GenericError(str(exc)) from None
    fds = claim_netdev_fds(ctx, args)  # a tap's fd passed with getfd: the netdev owns it now
    try:
        net = open_netdev(netdev_id, args, lambda text: parse_fd(text) if text[:1].isdigit() else fds[0])
    except NetdevError as exc:
        release(fds)
        raise GenericError(str(exc)) from None
    ctx.machine.backends.add_netdev(netdev_id, {"options": dict(args), "attached": None, "fds": fds, "socket": net})
    return {}


@command("netdev_del")
def netdev_del(ctx: Context, args: dict[str, Any]) -> Any:
    netdev_id = args["id"]
    entry = ctx.machine.backends.del_netdev(netdev_id)
    if entry is None:
        raise DeviceNotFound(f"Device '{netdev_id}' not found")
    release(entry.get("fds", []))
    return {}
