"""HMP drive_add and drive_del: the legacy ``-drive`` backends (QEMU 7.2's hmp_drive_add/hmp_drive_del).

A legacy drive is a block backend with an id (``-drive if=none,id=X``, or drive_add): fakeqemu keeps it in
the block table under its id with ``legacy`` set, and its unit (``none`` drives are numbered: a drive
without an id is named ``noneN`` by the first free unit). Without ``file`` it is empty (no medium).

- ``drive_add [-n] ADDR OPTS``: ADDR is taken and ignored (as QEMU does); only ``if=none`` can be hot-added
  (``OK``), another interface prints ``Can't hot-add drive to type N``. ``-n`` adds a node as
  blockdev-add would from the options.
- ``drive_del ID``: a node name is blockdev-del'ed; a legacy drive without a device goes at once; one a
  device uses loses its medium and its name (query-block lists the device's backend with ``device: ""``)
  and goes with the device. Errors are printed as they are, without ``Error:``.

A legacy drive is deleted with the device that uses it (blockdev_auto_del); a blockdev-add node stays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakeqemu.commands import dispatch
from fakeqemu.commands.hmp_args import C_SPACE, ArgError, get_str, missing, usage
from fakeqemu.commands.registry import Context
from fakeqemu.machine.block import locks
from fakeqemu.protocols.qemuopts import split_opts
from fakeqemu.qmp.errors import QMPError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

#: BlockInterfaceType: the number QEMU prints for an interface it cannot hot-add
IF_TYPES = {"none": 0, "ide": 1, "scsi": 2, "floppy": 3, "pflash": 4, "mtd": 5, "sd": 6, "virtio": 7, "xen": 8}
#: -drive's own options (the rest go to the block driver: file.*, and the format's)
_DRIVE_KEYS = frozenset({
    "id", "if", "bus", "unit", "index", "media", "snapshot", "cache", "aio", "format", "readonly", "read-only",
    "rerror", "werror", "copy-on-read", "serial", "addr", "file", "driver", "discard", "detect-zeroes",
    "cyls", "heads", "secs", "trans", "node-name", "auto-read-only",
})  # fmt: skip


def _words(cmd: str, args: str, count: int, expected: str = "string") -> list[str]:
    out: list[str] = []
    rest = args
    for _ in range(count):
        if not rest.strip(C_SPACE):
            raise ArgError(missing(cmd, expected))
        try:
            word, rest = get_str(rest)
        except ArgError:
            raise ArgError(usage(cmd)) from None
        out.append(word)
    if rest.strip(C_SPACE):
        raise ArgError(f"{cmd}: extraneous characters at the end of line\r\n" + usage(cmd))
    return out


def free_unit(machine: Machine) -> int:
    used = {e.get("unit") for e in machine.backends.blockdevs.values() if e.get("legacy")}
    unit = 0
    while unit in used:
        unit += 1
    return unit


def hmp_drive_add(machine: Machine, args: str) -> str:
    text = args.lstrip(C_SPACE)
    node = text.startswith("-n") and text[2:3] in ("", *C_SPACE)
    try:
        _, opts_text = _words("drive_add", text[2:] if node else text, 2)
    except ArgError as exc:
        return str(exc)
    opts = split_opts(opts_text)
    ctx = Context(machine, monitor="hmp")
    if node:
        try:
            dispatch.run(ctx, "blockdev-add", dict(opts))
        except QMPError as exc:
            return f"{exc.desc}\r\n"
        return "OK\r\n"
    table = machine.backends.blockdevs
    drive_id = opts.get("id")
    if drive_id is not None and drive_id in table:
        return f"Duplicate ID '{drive_id}' for drive\r\n"
    kind = IF_TYPES.get(opts.get("if", "ide"), -1)
    if kind != 0:
        return f"Can't hot-add drive to type {kind}\r\n"
    extra = [k for k in opts if k not in _DRIVE_KEYS and not k.startswith("file.")]
    if extra and "file" not in opts and "driver" not in opts:
        return "Must specify either driver or file\r\n"
    unit = free_unit(machine)
    drive_id = drive_id or f"none{unit}"
    try:
        add_drive(machine, {**opts, "id": drive_id}, unit)
    except QMPError as exc:
        return f"{exc.desc}\r\n"
    return "OK\r\n"


def add_drive(machine: Machine, opts: dict[str, Any], unit: int) -> None:
    """A legacy drive's backend (its medium's file is opened and locked as a node's)."""
    from fakeqemu.machine.block.nodes import check_file

    file = opts.get("file")
    if isinstance(file, str) and "://" not in file:  # a protocol (null-co://) opens no file
        check_file(file)
    table = machine.backends.blockdevs
    name = str(opts["id"])
    table[name] = {"options": {**opts, "node-name": name}, "attached": None, "backing": None}
    table[name].update(legacy=True, unit=unit)
    try:
        locks.lock_node(table, name)
    except locks.LockError as exc:
        del table[name]
        raise QMPError(str(exc).split("\n")[0]) from None


def hmp_drive_del(machine: Machine, args: str) -> str:
    try:
        (name,) = _words("drive_del", args, 1, "block device name")
    except ArgError as exc:
        return str(exc)
    table = machine.backends.blockdevs
    entry = table.get(name)
    if entry is not None and not entry.get("legacy"):
        try:
            dispatch.run(Context(machine, monitor="hmp"), "blockdev-del", {"node-name": name})
        except QMPError as exc:
            return f"{exc.desc}\r\n"
        return ""
    if entry is None or entry.get("anonymous"):
        return f"Device '{name}' not found\r\n"
    if entry.get("attached") is None:
        locks.release(table.pop(name))
    else:
        entry["anonymous"] = True  # no medium, no name: it goes with its device
    return ""
