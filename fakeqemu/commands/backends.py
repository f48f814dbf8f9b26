"""Backend commands: netdev_add / netdev_del, blockdev-add / blockdev-del (QEMU 7.2's errors)."""

from __future__ import annotations

import re
from typing import Any

from fakeqemu.commands.registry import Context, command
from fakeqemu.qmp.errors import DeviceNotFound, GenericError

_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")


@command("netdev_add")
def netdev_add(ctx: Context, args: dict[str, Any]) -> Any:
    netdev_id = args["id"]
    if not _ID.fullmatch(netdev_id):
        raise GenericError("Parameter 'id' expects an identifier")
    table = ctx.machine.backends.netdevs
    if netdev_id in table:
        raise GenericError(f"Duplicate ID '{netdev_id}'")
    table[netdev_id] = {"options": dict(args), "attached": None}
    return {}


@command("netdev_del")
def netdev_del(ctx: Context, args: dict[str, Any]) -> Any:
    netdev_id = args["id"]
    if ctx.machine.backends.netdevs.pop(netdev_id, None) is None:
        raise DeviceNotFound(f"Device '{netdev_id}' not found")
    return {}


@command("blockdev-add")
def blockdev_add(ctx: Context, args: dict[str, Any]) -> Any:
    name = args.get("node-name")
    if name is None:
        raise GenericError("'node-name' must be specified for the root node")
    table = ctx.machine.backends.blockdevs
    if name in table:
        raise GenericError(f"Duplicate nodes with node-name='{name}'")
    table[name] = {"options": dict(args), "attached": None}
    return {}


@command("blockdev-del")
def blockdev_del(ctx: Context, args: dict[str, Any]) -> Any:
    name = args["node-name"]
    table = ctx.machine.backends.blockdevs
    node = table.get(name)
    if node is None:
        raise GenericError(f"Failed to find node with node-name='{name}'")
    if node.get("attached") is not None:
        raise GenericError(f"Node {name} is in use")
    del table[name]
    return {}
