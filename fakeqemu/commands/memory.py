"""Memory commands: object-add/object-del of memory backends, query-memdev, query-memory-devices,
query-memory-size-summary, query-acpi-ospm-status (over fakeqemu.machine.devices.dimm)."""

from __future__ import annotations

from typing import Any

from fakeqemu.commands.queries import recorded
from fakeqemu.commands.registry import Context, command
from fakeqemu.qmp.errors import GenericError


@command("object-add")
def object_add(ctx: Context, args: dict[str, Any]) -> Any:
    props = {k: v for k, v in args.items() if k not in ("qom-type", "id")}
    ctx.machine.memdevs.object_add(args["qom-type"], args["id"], props)
    return {}


@command("object-del")
def object_del(ctx: Context, args: dict[str, Any]) -> Any:
    if not ctx.machine.memdevs.object_del(args["id"]):
        raise GenericError(f"object '{args['id']}' not found")
    return {}


@command("query-memdev")
def query_memdev(ctx: Context, args: dict[str, Any]) -> Any:
    return ctx.machine.memdevs.query_memdev()


@command("query-memory-size-summary")
def query_memory_size_summary(ctx: Context, args: dict[str, Any]) -> Any:
    memdevs = ctx.machine.memdevs
    return {"base-memory": memdevs.ram, "plugged-memory": memdevs.plugged()}


@command("query-memory-devices")
def query_memory_devices(ctx: Context, args: dict[str, Any]) -> Any:
    return ctx.machine.memdevs.query_devices()


@command("query-acpi-ospm-status")
def query_acpi_ospm_status(ctx: Context, args: dict[str, Any]) -> Any:
    """The memory slots, then the modern CPU hotplug block's CPUs (piix4_ospm_status, ich9_pm_ospm_status)."""
    machine = ctx.machine
    if machine.board is None:  # -M none: nothing implements the ACPI device interface; microvm's GED does
        return recorded(ctx, "query-acpi-ospm-status")
    out: list[dict[str, Any]] = []
    if machine.memdevs.memhp is not None:
        out.extend(machine.memdevs.memhp.ospm_status())
    cpuhp = machine.cpus.cpuhp
    if cpuhp is not None and not cpuhp.legacy:
        out.extend(cpuhp.ospm_status())
    return out
