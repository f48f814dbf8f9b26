"""fakeqemu's own QMP commands (x-fakeqemu-*): guest-side I/O, the guest policy, guest-initiated eject.

They act through the same machinery as a guest: port reads/writes go to ``machine.ioports`` (so reading
the pcihp "up" register clears it), and x-fakeqemu-eject writes the pcihp select + eject registers.
``EXTENSION_SCHEMA`` describes them in query-qmp-schema's format for the schema helper.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.core.qdev import Device
from fakeqemu.machine.guest.hotplug import PolicyError
from fakeqemu.machine.guest.panic import panic
from fakeqemu.machine.guest.watchdog import WatchdogPolicyError
from fakeqemu.qmp.errors import DeviceNotFound, GenericError
from fakeqemu.qmp.schema import Schema


def _member(name: str, typ: str, optional: bool = False) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "type": typ}
    if optional:
        m["default"] = None
    return m


def _object(name: str, members: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "meta-type": "object", "members": members}


def _command(name: str, arg: str, ret: str) -> dict[str, Any]:
    return {"name": name, "meta-type": "command", "arg-type": arg, "ret-type": ret}


EXTENSION_SCHEMA: tuple[dict[str, Any], ...] = (
    _command("x-fakeqemu-io-write", "x-fakeqemu-io-write-arg", "x-fakeqemu-empty"),
    _command("x-fakeqemu-io-read", "x-fakeqemu-io-read-arg", "x-fakeqemu-io-value"),
    _command("x-fakeqemu-guest-policy", "x-fakeqemu-guest-policy-arg", "x-fakeqemu-guest-info"),
    _command("x-fakeqemu-query-guest", "x-fakeqemu-empty", "x-fakeqemu-guest-info"),
    _command("x-fakeqemu-eject", "x-fakeqemu-eject-arg", "x-fakeqemu-empty"),
    _command("x-fakeqemu-agent", "x-fakeqemu-agent-arg", "x-fakeqemu-agent-info"),
    _command("x-fakeqemu-power", "x-fakeqemu-power-arg", "x-fakeqemu-guest-info"),
    _object("x-fakeqemu-empty", []),
    _object(
        "x-fakeqemu-io-write-arg",
        [_member("port", "int"), _member("size", "int"), _member("value", "int")],
    ),
    _object("x-fakeqemu-io-read-arg", [_member("port", "int"), _member("size", "int")]),
    _object("x-fakeqemu-io-value", [_member("value", "int")]),
    _object("x-fakeqemu-guest-policy-arg", [_member("policy", "str"), _member("device", "str", True)]),
    _object("x-fakeqemu-eject-arg", [_member("id", "str")]),
    _object("x-fakeqemu-power-arg", [_member("policy", "str")]),
    _command("x-fakeqemu-watchdog", "x-fakeqemu-watchdog-arg", "x-fakeqemu-watchdog-info"),
    _object("x-fakeqemu-watchdog-arg", [_member("policy", "str", True)]),
    _object(
        "x-fakeqemu-watchdog-info",
        [
            _member("policy", "str"),
            _member("device", "str"),
            _member("guest-armed", "bool"),
            _member("device-armed", "bool"),
        ],
    ),
    _command("x-fakeqemu-panic", "x-fakeqemu-panic-arg", "x-fakeqemu-panic-info"),
    _object("x-fakeqemu-panic-arg", [_member("kdump", "bool", True)]),
    _object("x-fakeqemu-panic-info", [_member("reported", "bool")]),
    _object(
        "x-fakeqemu-agent-arg",
        [_member("policy", "str", True), _member("device", "str", True), _member("addresses", "str", True)],
    ),
    _object(
        "x-fakeqemu-agent-info",
        [
            _member("policy", "str"),
            _member("port", "str"),
            _member("chardev", "str"),
            _member("open", "bool"),
            _member("frozen", "bool"),
        ],
    ),
    _object(
        "x-fakeqemu-guest-info",
        [
            _member("policy", "str"),
            _member("effective-policy", "str"),
            _member("devices", "[x-fakeqemu-guest-device]"),
            _member("booted", "bool"),
            _member("power", "str"),
            _member("powerdown-pending", "bool"),
            _member("sci-pending", "bool"),
        ],
    ),
    {"name": "[x-fakeqemu-guest-device]", "meta-type": "array", "element-type": "x-fakeqemu-guest-device"},
    _object("x-fakeqemu-guest-device", [_member("id", "str"), _member("policy", "str")]),
)
Schema.declare_own(EXTENSION_SCHEMA)


def _port_size(args: dict[str, Any]) -> tuple[int, int]:
    port, size = int(args["port"]), int(args["size"])
    if size not in (1, 2, 4):
        raise GenericError("size must be 1, 2 or 4")
    if not 0 <= port <= 0xFFFF:
        raise GenericError("port must be between 0 and 0xffff")
    return port, size


@command("x-fakeqemu-io-write")
def io_write(ctx: Context, args: dict[str, Any]) -> Any:
    port, size = _port_size(args)
    with ctx.machine.io_from("x-fakeqemu-io-write"):
        ctx.machine.ioports.write(port, size, int(args["value"]) & ((1 << (8 * size)) - 1))
    return {}


@command("x-fakeqemu-io-read")
def io_read(ctx: Context, args: dict[str, Any]) -> Any:
    port, size = _port_size(args)
    with ctx.machine.io_from("x-fakeqemu-io-read"):
        return {"value": ctx.machine.ioports.read(port, size)}


@command("x-fakeqemu-guest-policy")
def guest_policy(ctx: Context, args: dict[str, Any]) -> Any:
    guest = ctx.machine.guest
    device = args.get("device")
    if device is not None and _find_device(ctx, device) is None:
        raise DeviceNotFound(f"Device '{device}' not found")
    with _refused():
        guest.set_policy(str(args["policy"]), device)
    return guest.describe()


@command("x-fakeqemu-query-guest")
def query_guest(ctx: Context, args: dict[str, Any]) -> Any:
    return ctx.machine.guest.describe()


@command("x-fakeqemu-eject")
def eject(ctx: Context, args: dict[str, Any]) -> Any:
    guest = ctx.machine.guest
    dev = _find_device(ctx, str(args["id"]))
    if dev is None:
        raise DeviceNotFound(f"Device '{args['id']}' not found")
    with _refused(), ctx.machine.io_from("x-fakeqemu-eject"):
        guest.eject_device(dev)
    return {}


@command("x-fakeqemu-power")
def power(ctx: Context, args: dict[str, Any]) -> Any:
    """What the guest OS does on shutdown: prompt, delay:<ms>, ignore (the power button), hang."""
    guest = ctx.machine.guest
    with _refused():
        guest.set_power(str(args["policy"]))
    return guest.describe()


@command("x-fakeqemu-watchdog")
def watchdog(ctx: Context, args: dict[str, Any]) -> Any:
    """The guest's watchdog daemon: off, pet[:<s>], hang[:<s>]; without a policy, what it does now."""
    daemon = ctx.machine.watchdog_daemon
    if "policy" in args:
        with _refused():
            daemon.set_policy(str(args["policy"]))
    return daemon.describe()


@command("x-fakeqemu-panic")
def guest_panic(ctx: Context, args: dict[str, Any]) -> Any:
    """The guest kernel panics now (``kdump``: a crash kernel takes over); ``reported``: a pvpanic device
    told QEMU."""
    return {"reported": panic(ctx.machine, bool(args.get("kdump", False)))}


@command("x-fakeqemu-agent")
def agent(ctx: Context, args: dict[str, Any]) -> Any:
    """The guest agent's state (``policy``: running, delay:<ms>, hung, absent), and the guest's addresses of
    one NIC (``device``, ``addresses`` as "10.0.0.5/24,fd00::5/64"); with no arguments, the state."""
    ga = ctx.machine.agent
    if ga is None:
        raise GenericError("this machine has no guest agent port (virtserialport name=org.qemu.guest_agent.0)")
    if "addresses" in args or "device" in args:
        device = str(args.get("device", ""))
        if _find_device(ctx, device) is None:
            raise DeviceNotFound(f"Device '{device}' not found")
        addresses = args.get("addresses", "")
        if not isinstance(addresses, str):
            raise GenericError("Invalid parameter type for 'addresses', expected: string")
        ga.net.addresses[device] = [a for a in addresses.split(",") if a]
    if "policy" in args:
        with _refused():
            ga.set_policy(str(args["policy"]))
    return ga.describe()


@contextlib.contextmanager
def _refused() -> Iterator[None]:
    """A policy the guest model refuses (its PolicyError, WatchdogPolicyError) answered as a GenericError."""
    try:
        yield
    except (PolicyError, WatchdogPolicyError) as exc:
        raise GenericError(str(exc)) from None


def _find_device(ctx: Context, dev_id: str) -> Device | None:
    """A device by id (/machine/peripheral/<id>)."""
    board = ctx.machine.board
    return None if board is None else board.find_device(dev_id)
