"""balloon and query-balloon over the VM's virtio balloon (fakeqemu.machine.devices.balloon)."""

from __future__ import annotations

from typing import Any

from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.devices.balloon import find_balloon
from fakeqemu.qmp.errors import GenericError


@command("balloon")
def balloon(ctx: Context, args: dict[str, Any]) -> Any:
    dev = find_balloon(ctx.machine)
    value = args["value"]
    if value <= 0:
        raise GenericError("Parameter 'target' expects a size")
    dev.set_target(value)
    return {}


@command("query-balloon")
def query_balloon(ctx: Context, args: dict[str, Any]) -> Any:
    return {"actual": find_balloon(ctx.machine).actual}
