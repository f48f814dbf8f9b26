"""Disks and cdroms on IDE (the board's PIIX IDE or ICH9 AHCI) and SCSI (virtio-scsi-pci) buses: where a
device lands on its bus (IDE unit, SCSI target and LUN), what realize fills in (the IDE serial number, the
CHS geometry guessed from the medium's size) and QEMU 7.2's errors for it (hw/ide/qdev.c,
hw/scsi/scsi-bus.c, hw/block/hd-geometry.c), and each block device's BlockBackend: the tray and lock of a
removable one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fakeqemu.machine.backends import has_medium
from fakeqemu.machine.block import graph
from fakeqemu.machine.core.qdev import Bus, Device
from fakeqemu.qmp.errors import GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.board import DeviceModel
    from fakeqemu.machine.machine import Machine

#: "not set" for a uint32 / int32 address property (unit, scsi-id, lun)
_UNSET = (4294967295, -1)
#: virtio-scsi's limits (hw/scsi/virtio-scsi.c virtio_scsi_scsi_info)
SCSI_MAX_CHANNEL, SCSI_MAX_TARGET, SCSI_MAX_LUN = 0, 255, 16383
#: drivers whose medium can be removed (a tray)
REMOVABLE = frozenset({"ide-cd", "scsi-cd"})
#: drivers that need a drive, and QEMU's error without one
NEEDS_DRIVE = {
    "ide-hd": "No drive specified",
    "scsi-hd": "drive property not set",
    "virtio-blk-pci": "drive property not set",
}


@dataclass(slots=True, eq=False)
class BlockBackend:
    """A block device's BlockBackend: its medium is the node attached to the device (none: no medium)."""

    dev: Device
    removable: bool
    tray_open: bool = False
    locked: bool = False
    #: the root state's read-only flag: what a new medium opens with ("retain"), kept while it has none
    read_only: bool = False


def qdev_name(dev: Device) -> str:
    """blk_get_attached_dev_id: the device's id, or its path (a virtio proxy's block device is its
    ``virtio-backend`` child, which has no id; usb-storage's, the SCSI disk on its own bus)."""
    backend = dev.children.get("virtio-backend")
    if backend is not None:
        return backend.path
    inner = next((d for sub in dev.child_buses for d in sub.devices if "drive" in d.values), None)
    if inner is not None:
        return inner.id or inner.path
    return dev.id or dev.path


def medium(m: Machine, dev: Device) -> str | None:
    """The node the device's backend has as its root (its medium), if any (an empty -drive is none)."""
    for name, entry in m.backends.blockdevs.items():
        if entry.get("attached") is dev and has_medium(entry):
            return name
    return None


def legacy_drive(m: Machine, dev: Device) -> str | None:
    """The legacy drive (-drive, drive_add) the device's backend is, by its table name: it keeps the
    backend's name (and place) whatever medium is in it."""
    for name, entry in m.backends.blockdevs.items():
        if entry.get("attached") is dev and isinstance(entry["options"].get("id"), str):
            return name
    return None


def backend_of(m: Machine, dev: Device) -> BlockBackend | None:
    for blk in m.backends.blks:
        if blk.dev is dev:
            return blk
    return None


def blk_name(m: Machine, blk: BlockBackend) -> str:
    """The backend's name: its -drive's id (a device's own backend has none)."""
    entry = m.backends.blockdevs.get(legacy_drive(m, blk.dev) or "", {})
    return "" if entry.get("anonymous") else str(entry.get("options", {}).get("id", ""))


def move_tray(m: Machine, blk: BlockBackend, tray_open: bool) -> None:
    """blk_dev_change_media_cb: the device's tray follows, and DEVICE_TRAY_MOVED says so."""
    if blk.tray_open == tray_open:
        return
    blk.tray_open = tray_open
    m.events.emit("DEVICE_TRAY_MOVED", {"device": blk_name(m, blk), "id": qdev_name(blk.dev), "tray-open": tray_open})


def geometry(m: Machine, node: str | None) -> dict[str, Any]:
    """hd_geometry_guess for a disk without a partition table: 16 heads, 63 sectors, cylinders from the
    size (2..16383); the BIOS translation is LBA once the cylinders pass 1024."""
    size = graph.length(m, node) if node is not None else 0
    cyls = min(max(size // graph.SECTOR // (16 * 63), 2), 16383)
    return {"cyls": cyls, "heads": 16, "secs": 63, "bios-chs-trans": "none" if cyls <= 1024 else "lba"}


def prepare(m: Machine, model: DeviceModel, bus: Bus, typed: dict[str, Any], opts: Mapping[str, str]) -> None:
    """Realize's checks and the values it fills in, for a device on an IDE or SCSI bus."""
    if model.bus_type == "IDE":
        _ide(m, model, bus, typed)
    elif model.bus_type == "SCSI":
        _scsi(bus, typed)
        if "device_id" in model.objects[""]["values"] and not typed.get("device_id"):
            # scsi_realize: the serial, else the backend's name (a -drive id)
            entry = m.backends.blockdevs.get(opts.get("drive", ""), {})
            drive_id = entry.get("options", {}).get("id") if not entry.get("anonymous") else None
            device_id = typed.get("serial") or drive_id
            if device_id:
                typed["device_id"] = device_id
    if "cyls" in model.objects[""]["values"]:
        geo = geometry(m, opts.get("drive"))
        for key, value in geo.items():
            if key != "bios-chs-trans" or model.bus_type == "IDE":
                typed.setdefault(key, value)


def _ide(m: Machine, model: DeviceModel, bus: Bus, typed: dict[str, Any]) -> None:
    """ide_qdev_realize: unit 0 (master) or 1 (slave); PIIX's buses take two units, AHCI's ports one."""
    board = m.board
    max_units = 2 if board is not None and board.kind == "pc" else 1
    taken = {int(d.user_props.get("unit", 0)) for d in bus.devices}
    unit = typed.get("unit", _UNSET[0])
    if unit in _UNSET:
        unit = 1 if 0 in taken else 0
    if unit >= max_units:
        raise GenericError(f"Can't create IDE unit {unit}, bus supports only {max_units} units")
    if unit in taken:
        raise GenericError(f"IDE unit {unit} is in use")
    typed["unit"] = unit
    if not typed.get("serial"):
        # ide_init1 numbers every IDEState of the controller, two per bus (an AHCI port's too)
        index = int(bus.bus_name.rpartition(".")[2] or 0)
        typed["serial"] = f"QM{index * 2 + unit + 1:05d}"


def _scsi(bus: Bus, typed: dict[str, Any]) -> None:
    """scsi_qdev_realize: the address checks, then a free target (or LUN) where none was given."""
    channel = int(typed.get("channel", 0))
    target = typed.get("scsi-id", -1)
    lun = typed.get("lun", -1)
    if channel > SCSI_MAX_CHANNEL:
        raise GenericError(f"bad scsi channel id: {channel}")
    if target != -1 and target > SCSI_MAX_TARGET:
        raise GenericError(f"bad scsi device id: {target}")
    if lun != -1 and lun > SCSI_MAX_LUN:
        raise GenericError(f"bad scsi device lun: {lun}")
    used = {(int(d.user_props.get("scsi-id", 0)), int(d.user_props.get("lun", 0))): d for d in bus.devices}
    if target == -1:
        lun = 0 if lun == -1 else lun
        target = next((t for t in range(SCSI_MAX_TARGET + 1) if (t, lun) not in used), None)
        if target is None:
            raise GenericError("no free target")
    elif lun == -1:
        lun = next((n for n in range(SCSI_MAX_LUN + 1) if (target, n) not in used), None)
        if lun is None:
            raise GenericError("no free lun")
    elif (target, lun) in used:
        raise GenericError(f"lun already used by '{used[target, lun].id or ''}'")
    typed.update({"channel": channel, "scsi-id": target, "lun": lun})


def attach(m: Machine, dev: Device, driver: str) -> None:
    """The device's BlockBackend comes with it (a cdrom without a drive has one with no medium)."""
    node = medium(m, dev)
    if driver in REMOVABLE or node is not None:
        read_only = node is not None and graph.read_only(m.backends.blockdevs[node]["options"])
        m.backends.blks.append(BlockBackend(dev, driver in REMOVABLE, read_only=read_only))


#: a BlockBackend as the queries list it: its device's, its medium, its name, its legacy drive's entry
Listed = tuple["BlockBackend | None", "str | None", str, "dict[str, Any] | None"]


def backends(m: Machine) -> list[Listed]:
    """Every BlockBackend: the legacy drives' (-drive, drive_add) where they were made, as QEMU made them,
    then the devices' own. A legacy drive drive_del'ed while its device holds it (``anonymous``) has lost
    its name, not its place; one whose medium was ejected or changed keeps both."""
    out: list[Listed] = []
    listed: set[int] = set()
    for name, entry in m.backends.blockdevs.items():
        drive_id = entry["options"].get("id")
        if isinstance(drive_id, str):
            dev = entry.get("attached")
            blk = backend_of(m, dev) if dev is not None else None
            if blk is not None:
                listed.add(id(blk))
                node = medium(m, blk.dev)
            else:
                node = name if has_medium(entry) else None
            out.append((blk, node, "" if entry.get("anonymous") else drive_id, entry))
    for blk in m.backends.blks:
        if id(blk) not in listed:
            out.append((blk, medium(m, blk.dev), "", None))
    return out


def blockstats_backends(m: Machine) -> list[tuple[str, str | None, str | None]]:
    """query-blockstats' view of the backends: name, device, root node."""
    return [(name, qdev_name(blk.dev) if blk else None, node) for blk, node, name, _ in backends(m)]
