"""QMP commands about the monitor and the VM as a whole: run state, version, name, schema."""

from __future__ import annotations

from typing import Any

from fakeqemu.commands.registry import COMMANDS, Context, command
from fakeqemu.qmp.errors import GenericError
from fakeqemu.qmp.schema import Schema

#: events fakeqemu can send; query-qmp-schema lists these
EVENTS = (
    "SHUTDOWN",
    "POWERDOWN",
    "RESET",
    "STOP",
    "RESUME",
    "DEVICE_DELETED",
    "VSERPORT_CHANGE",
    "SUSPEND",
    "SUSPEND_DISK",
    "WAKEUP",
    "JOB_STATUS_CHANGE",
    "BLOCK_JOB_COMPLETED",
    "BLOCK_JOB_CANCELLED",
    "BLOCK_JOB_ERROR",
    "BLOCK_JOB_READY",
    "BLOCK_JOB_PENDING",
    "MIGRATION",
    "MIGRATION_PASS",
    "WATCHDOG",
    "GUEST_PANICKED",
    "GUEST_CRASHLOADED",
    "VNC_CONNECTED",
    "VNC_INITIALIZED",
    "VNC_DISCONNECTED",
    "SPICE_CONNECTED",
    "SPICE_INITIALIZED",
    "SPICE_DISCONNECTED",
)


@command("query-status")
def query_status(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine
    return {"running": m.running, "singlestep": False, "status": m.runstate}


@command("cont")
def cont(ctx: Context, args: dict[str, Any]) -> Any:
    ctx.machine.cont()


@command("x-exit-preconfig")
def x_exit_preconfig(ctx: Context, args: dict[str, Any]) -> Any:
    """qmp_x_exit_preconfig: the machine is made ready, then runs unless -S or -incoming."""
    m = ctx.machine
    if not m.preconfig:
        raise GenericError("The command is permitted only before machine initialization")
    m.preconfig = False
    if not m.config.paused and m.runstate == "prelaunch":
        m.cont()


@command("stop")
def stop(ctx: Context, args: dict[str, Any]) -> Any:
    ctx.machine.stop()


@command("system_reset")
def system_reset(ctx: Context, args: dict[str, Any]) -> Any:
    ctx.machine.system_reset()


@command("watchdog-set-action")
def watchdog_set_action(ctx: Context, args: dict[str, Any]) -> Any:
    ctx.machine.actions["watchdog"] = args["action"]


@command("set-action")
def set_action(ctx: Context, args: dict[str, Any]) -> Any:
    """qmp_set_action: each action given (the schema checked the names)."""
    for key in ("reboot", "panic", "watchdog", "shutdown"):
        if key in args:
            ctx.machine.actions[key] = args[key]


@command("system_powerdown")
def system_powerdown(ctx: Context, args: dict[str, Any]) -> Any:
    ctx.machine.system_powerdown()


def _wakeup_support(ctx: Context) -> bool:
    """qemu_wakeup_suspend_enabled: the board's ACPI PM block registered wake-up support."""
    return ctx.machine.config.acpi and ctx.machine.board is not None


@command("system_wakeup")
def system_wakeup(ctx: Context, args: dict[str, Any]) -> Any:
    if not _wakeup_support(ctx):
        raise GenericError("wake-up from suspend is not supported by this guest")
    ctx.machine.wakeup()


@command("query-current-machine")
def query_current_machine(ctx: Context, args: dict[str, Any]) -> Any:
    return {"wakeup-suspend-support": _wakeup_support(ctx)}


@command("rtc-reset-reinjection")
def rtc_reset_reinjection(ctx: Context, args: dict[str, Any]) -> Any:
    # the RTC's coalesced interrupts to reinject (after a guest time change): fakeqemu's RTC has none
    return {}


@command("quit")
def quit_(ctx: Context, args: dict[str, Any]) -> Any:
    # QEMU sends SHUTDOWN before the reply, then exits after the reply is written
    ctx.machine.shutdown("host-qmp-quit", guest=False)


@command("query-version")
def query_version(ctx: Context, args: dict[str, Any]) -> Any:
    major, minor, micro = ctx.machine.config.qemu_version
    return {"qemu": {"major": major, "minor": minor, "micro": micro}, "package": ctx.machine.config.package}


@command("query-name")
def query_name(ctx: Context, args: dict[str, Any]) -> Any:
    name = ctx.machine.config.name
    return {} if name is None else {"name": name}


@command("query-kvm")
def query_kvm(ctx: Context, args: dict[str, Any]) -> Any:
    return {"enabled": ctx.machine.config.accel == "kvm", "present": True}


@command("query-uuid")
def query_uuid(ctx: Context, args: dict[str, Any]) -> Any:
    return {"UUID": ctx.machine.config.uuid}


@command("query-commands")
def query_commands(ctx: Context, args: dict[str, Any]) -> Any:
    return Schema.load().commands_list(COMMANDS)


@command("query-qmp-schema")
def query_qmp_schema(ctx: Context, args: dict[str, Any]) -> Any:
    return Schema.load().introspect(COMMANDS, EVENTS, extension_schema())


def extension_schema() -> list[dict[str, Any]]:
    """Introspection entities of fakeqemu's own x-fakeqemu-* commands."""
    try:
        from fakeqemu.commands.fakeqemu_ext import EXTENSION_SCHEMA
    except ImportError:
        return []
    return list(EXTENSION_SCHEMA)


@command("migrate-pause", allow_oob=True)
def migrate_pause(ctx: Context, args: dict[str, Any]) -> Any:
    """A running postcopy's stream is broken on purpose: both sides pause (either side may ask)."""
    ctx.machine.migration.pause()


@command("migrate-recover", allow_oob=True)
def migrate_recover(ctx: Context, args: dict[str, Any]) -> Any:
    """The destination of a paused postcopy listens again for the source to resume."""
    ctx.machine.migration.recover(args["uri"])


@command("query-yank", allow_oob=True)
def query_yank(ctx: Context, args: dict[str, Any]) -> Any:
    """Yank instances: one per socket chardev (monitors, qtest), in creation order."""
    return [{"type": "chardev", "id": cid} for cid in ctx.machine.config.chardevs]
