"""A removable device's tray and medium (QEMU 7.2's blockdev.c and block/qapi-sysemu.c): eject,
blockdev-open-tray / -close-tray, blockdev-remove-medium / -insert-medium, blockdev-change-medium, with
DEVICE_TRAY_MOVED whenever the tray moves and QEMU's checks in QEMU's order.

No guest OS locks a tray (a guest's PREVENT ALLOW MEDIUM REMOVAL), so the tray moves at once, as it does
in QEMU without a guest; a locked tray (``BlockBackend.locked``) gets QEMU's answers all the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakeqemu.commands.block import add_node
from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.block import graph, locks
from fakeqemu.machine.devices import storage
from fakeqemu.machine.plug import find_device_state
from fakeqemu.qmp.errors import DeviceNotFound, GenericError

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
    table[node]["attached"] = None
    while node is not None and node.startswith("#") and node in table and not graph.parents(m, node):
        entry = table.pop(node)
        locks.release(entry)
        node = graph.file_child(entry)


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
    mode = args.get("read-only-mode", "retain")
    if mode == "retain":
        read_only = bool(m.backends.blockdevs[old]["options"].get("read-only", False)) if old is not None else False
    else:
        read_only = mode == "read-only"
    fmt = str(args.get("format") or graph.probe_format(filename))
    table = m.backends.blockdevs
    n = 0
    while f"#block{n:03d}" in table or f"#block{n + 1:03d}" in table:
        n += 1
    file_node = f"#block{n:03d}"
    file_opts = {"driver": "file", "filename": filename, "node-name": file_node, "read-only": read_only}
    node = add_node(m, {"driver": fmt, "file": file_opts, "node-name": f"#block{n + 1:03d}", "read-only": read_only})
    try:
        if not _open_tray(m, blk, name, bool(args.get("force", False))):
            raise _locked(name)
        _remove_medium(m, blk, name)
        _insert_medium(m, blk, node)
    except GenericError:
        for gone in (node, file_node):
            locks.release(table.pop(gone))
        raise
    _close_tray(m, blk, name)
    return {}
