"""HMP ``block_resize DEVICE SIZE`` and ``block_set_io_throttle DEVICE BPS BPS_RD BPS_WR IOPS IOPS_RD IOPS_WR``
as QEMU 7.2 parses them (argument types ``B``, ``o`` and ``l``) and prints what the QMP commands say."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from fakeqemu.commands.hmp_args import C_SPACE, ArgError, get_str, usage
from fakeqemu.commands.hmp_io import HmpExprError, expression
from fakeqemu.commands.registry import COMMANDS, Context
from fakeqemu.qmp.errors import QMPError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

#: qemu_strtosz_MiB: a number (a fraction allowed), an optional unit, MiB when none is given
_SIZE = re.compile(r"(\d+(?:\.\d*)?)([bBkKmMgGtTpPeE]?)")
_UNITS = {"b": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}


def _device(cmd: str, args: str) -> tuple[str, str]:
    """A 'B' argument (a block device name): a word or a quoted string."""
    try:
        word, rest = get_str(args)
    except ArgError:
        word = ""  # an unterminated string: no name (QEMU's get_str fails)
    if not word:
        raise ArgError(f"{cmd}: block device name expected\r\n" + usage(cmd))
    return word, rest


def _end(cmd: str, rest: str) -> None:
    if rest.strip(C_SPACE):
        raise ArgError(f"{cmd}: extraneous characters at the end of line\r\n" + usage(cmd))


def _qmp(machine: Machine, name: str, args: dict[str, Any]) -> str:
    try:
        COMMANDS[name].handler(Context(machine), args)
    except QMPError as exc:
        return f"Error: {exc.desc}\r\n"
    return ""


def hmp_block_resize(machine: Machine, args: str) -> str:
    cmd = "block_resize"
    try:
        device, rest = _device(cmd, args)
        rest = rest.lstrip(C_SPACE)
        m = _SIZE.match(rest)
        if m is None:
            raise ArgError("invalid size\r\n" + usage(cmd))
        unit = _UNITS[(m.group(2) or "m").lower()]
        size = int(float(m.group(1)) * (1 << unit)) if "." in m.group(1) else int(m.group(1)) << unit
        _end(cmd, rest[m.end() :])
    except ArgError as exc:
        return str(exc)
    return _qmp(machine, cmd, {"device": device, "size": size})


THROTTLE_ARGS = ("bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr")


def hmp_block_set_io_throttle(machine: Machine, args: str) -> str:
    """The name is a -drive's when one has it, else a device's id (hmp_block_set_io_throttle)."""
    cmd = "block_set_io_throttle"
    try:
        device, rest = _device(cmd, args)
        values = []
        for _ in THROTTLE_ARGS:
            value, pos = expression(rest, 0)
            values.append(value)
            rest = rest[pos:]
        _end(cmd, rest)
    except HmpExprError as exc:
        return f"{exc}\r\n" + usage(cmd)
    except ArgError as exc:
        return str(exc)
    table = machine.backends.blockdevs
    named = any(e.get("legacy") and e["options"].get("id") == device and not e.get("anonymous") for e in table.values())
    qmp: dict[str, Any] = {("device" if named else "id"): device, **dict(zip(THROTTLE_ARGS, values, strict=True))}
    return _qmp(machine, cmd, qmp)


def register(hmp_commands: dict[str, Any]) -> None:
    hmp_commands["block_resize"] = hmp_block_resize
    hmp_commands["block_set_io_throttle"] = hmp_block_set_io_throttle
