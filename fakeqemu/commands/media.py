"""A removable device's tray and medium (QEMU 7.2's blockdev.c and block/qapi-sysemu.c): eject,
blockdev-open-tray / -close-tray, blockdev-remove-medium / -insert-medium, blockdev-change-medium, with
DEVICE_TRAY_MOVED whenever the tray moves and QEMU's checks in QEMU's order.

No guest OS locks a tray (a guest's PREVENT ALLOW MEDIUM REMOVAL), so the tray moves at once, as it does
in QEMU without a guest; a locked tray (``BlockBackend.locked``) gets QEMU's answers all the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakeqemu.commands.hmp_args import missing
from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.block import graph, locks
from fakeqemu.machine.block.nodes import add_node
from fakeqemu.machine.devices import storage
from fakeqemu.machine.plug import find_device_state
from fakeqemu.qmp.errors import DeviceNotFound, GenericError, QMPError

if TYPE_CHECKING:
    from fakeqemu.machine.devices.storage import BlockBackend
    from fakeqemu.machine.machine import Machine


def _get_blk(m: Machine, args: dict[str, Any]) -> tuple[BlockBackend, str]:
    """qmp_get_blk: the backend by its name (``device``) or its device's id (``id``); and the name QEMU's
    messages give it (the id, else the backend's name)."""
    device, dev_id = args.get("device"), args.get("id")
    if (device is None) == (dev_id is None):
        raise GenericError("Need exactly one of 'device' and 'id'")
    if device is not None:
        for entry in m.backends.blockdevs.values():
            dev = entry.get("attached")
            if entry["options"].get("id") == device and not entry.get("anonymous") and dev is not None:
                blk = storage.backend_of(m, dev)
                if blk is not None:
                    return blk, str(device)
        raise DeviceNotFound(f"Device '{device}' not found")
    try:
        dev = find_device_state(m, str(dev_id))
    except GenericError:
        raise DeviceNotFound(f"Device '{dev_id}' not found") from None
    blk = storage.backend_of(m, dev)
    if blk is None:
        raise GenericError(f"Device '{dev_id}' does not have a block device backend")
    return blk, str(dev_id)


def _open_tray(m: Machine, blk: BlockBackend, name: str, force: bool) -> bool:
    """do_open_tray; False where QEMU only asks the guest to open a locked tray (-EINPROGRESS)."""
    if not blk.removable:
        raise GenericError(f"Device '{name}' is not removable")
    if blk.tray_open:
        return True
    if blk.locked:
        cdrom = m.cdrom_guest
        if cdrom is not None and not force:
            cdrom.eject_request(blk)  # blk_dev_eject_request: the guest decides
        if not force:
            return False
        blk.locked = False  # a forced eject request unlocks the tray
    storage.move_tray(m, blk, True)
    return True


def _locked(name: str) -> GenericError:
    return GenericError(f"Device '{name}' is locked and force was not specified, wait for tray to open and try again")


def _remove_medium(m: Machine, blk: BlockBackend, name: str) -> None:
    """blockdev_remove_medium: the medium leaves an open tray; a node made for it (``#blockN``) goes too."""
    if not blk.removable:
        raise GenericError(f"Device '{name}' is not removable")
    if not blk.tray_open:
        raise GenericError(f"Tray of device '{name}' is not open")
    node = storage.medium(m, blk.dev)
    if node is None:
        return
    table = m.backends.blockdevs
    if node == storage.legacy_drive(m, blk.dev):
        # a legacy drive's backend keeps its name and place: the drive becomes an empty one
        entry = table[node]
        locks.release(entry)
        entry["options"] = {k: v for k, v in entry["options"].items() if k not in _MEDIUM_KEYS}
        return
    table[node]["attached"] = None
    while node is not None and node.startswith("#") and node in table and not graph.parents(m, node):
        entry = table.pop(node)
        locks.release(entry)
        node = graph.file_child(entry)


#: a -drive's options that describe its medium (what stays is the drive: its id, interface, ...)
_MEDIUM_KEYS = frozenset({"file", "driver", "format", "readonly", "read-only", "snapshot", "cache", "aio"})


def _insert_medium(m: Machine, blk: BlockBackend, node: str) -> None:
    """qmp_blockdev_insert_anon_medium."""
    if not blk.removable:
        raise GenericError(f"Device '{blk.dev.id}' is not removable")
    if not blk.tray_open:
        raise GenericError("Tray of the device is not open")
    if storage.medium(m, blk.dev) is not None:
        raise GenericError("There already is a medium in the device")
    m.backends.blockdevs[node]["attached"] = blk.dev


def _close_tray(m: Machine, blk: BlockBackend, name: str) -> None:
    if not blk.removable:
        raise GenericError(f"Device '{name}' is not removable")
    storage.move_tray(m, blk, False)
    if m.cdrom_guest is not None:
        m.cdrom_guest.mount(blk)


@command("eject")
def eject(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine
    blk, name = _get_blk(m, args)
    if not _open_tray(m, blk, name, bool(args.get("force", False))):
        raise _locked(name)
    _remove_medium(m, blk, name)
    return {}


@command("blockdev-open-tray")
def blockdev_open_tray(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine
    blk, name = _get_blk(m, args)
    _open_tray(m, blk, name, bool(args.get("force", False)))  # a locked tray: the guest is asked, no error
    return {}


@command("blockdev-close-tray")
def blockdev_close_tray(ctx: Context, args: dict[str, Any]) -> Any:
    blk, name = _get_blk(ctx.machine, args)
    _close_tray(ctx.machine, blk, name)
    return {}


@command("blockdev-remove-medium")
def blockdev_remove_medium(ctx: Context, args: dict[str, Any]) -> Any:
    blk, name = _get_blk(ctx.machine, {"id": args["id"]})
    _remove_medium(ctx.machine, blk, name)
    return {}


@command("blockdev-insert-medium")
def blockdev_insert_medium(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine
    blk, _ = _get_blk(m, {"id": args["id"]})
    node = str(args["node-name"])
    entry = m.backends.blockdevs.get(node)
    if entry is None or node.startswith("#"):
        raise GenericError(f"Node '{node}' not found")
    if entry.get("attached") is not None:
        raise GenericError(f"Node '{node}' is already in use")
    _insert_medium(m, blk, node)
    return {}


@command("blockdev-change-medium")
def blockdev_change_medium(ctx: Context, args: dict[str, Any]) -> Any:
    """Open the new medium (a format node over a file node, both named ``#blockN``), then open the tray,
    swap the media and close it."""
    m = ctx.machine
    blk, name = _get_blk(m, args)
    filename = str(args["filename"])
    old = storage.medium(m, blk.dev)
    if old is not None:  # blk_update_root_state
        blk.read_only = graph.read_only(m.backends.blockdevs[old]["options"])
    mode = args.get("read-only-mode", "retain")
    read_only = blk.read_only if mode == "retain" else mode == "read-only"
    fmt = str(args.get("format") or graph.probe_format(filename))
    table = m.backends.blockdevs
    n = 0
    while f"#block{n:03d}" in table or f"#block{n + 1:03d}" in table:
        n += 1
    file_node = f"#block{n:03d}"
    file_opts = {"driver": "file", "filename": filename, "node-name": file_node, "read-only": read_only}
    node = add_node(
        table,
        {"driver": fmt, "file": file_opts, "node-name": f"#block{n + 1:03d}", "read-only": read_only},
        generated=True,
    )
    try:
        if not _open_tray(m, blk, name, bool(args.get("force", False))):
            raise _locked(name)
        _remove_medium(m, blk, name)
        _insert_medium(m, blk, node)
    except GenericError:
        for gone in (node, file_node):
            locks.release(table.pop(gone))
        raise
    blk.read_only = read_only
    _close_tray(m, blk, name)
    return {}


# --- HMP ----------------------------------------------------------------------------------------------


def hmp_eject(machine: Machine, args: str) -> str:
    """``eject [-f] device``: by the backend's name (a -drive id), as hmp_eject asks qmp_eject."""
    words = args.split()
    force = bool(words) and words[0] == "-f"
    words = words[1:] if force else words
    if not words:
        return missing("eject", "block device name")
    return _hmp(eject, machine, {"device": words[0], "force": force})


def hmp_change(machine: Machine, args: str) -> str:
    """``change device [-f] filename [format [read-only-mode]]``: blockdev-change-medium by the backend's
    name."""
    words = args.split()
    if not words:
        return missing("change", "block device name")
    device, rest = words[0], words[1:]
    force = bool(rest) and rest[0] == "-f"
    rest = rest[1:] if force else rest
    if not rest:
        return missing("change", "filename")
    call: dict[str, Any] = {"device": device, "filename": rest[0], "force": force}
    if len(rest) > 1:
        call["format"] = rest[1]
    if len(rest) > 2:
        if rest[2] not in ("retain", "read-only", "read-write"):
            return f"Error: invalid parameter value: {rest[2]}\r\n"
        call["read-only-mode"] = rest[2]
    return _hmp(blockdev_change_medium, machine, call)


def _hmp(fn: Any, machine: Machine, args: dict[str, Any]) -> str:
    try:
        fn(Context(machine), args)
    except QMPError as exc:
        return f"Error: {exc.desc}\r\n"
    return ""


def register(hmp_commands: dict[str, Any]) -> None:
    hmp_commands["eject"] = hmp_eject
    hmp_commands["change"] = hmp_change
