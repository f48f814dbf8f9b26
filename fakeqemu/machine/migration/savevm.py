"""Internal snapshots of the whole VM over its block graph: QEMU 7.2's save_snapshot, load_snapshot and
the bdrv_all_* walks of block/snapshot.c, with their errors, over fakeqemu.machine.block.internal.

Without a device list the walk is bdrv_first/bdrv_next's (nodes under a BlockBackend, then the
monitor's nodes without one) filtered as bdrv_all_snapshots_includes_bs filters it (writable, and
either under a BlockBackend or without parents); with one, each name is a node name. The VM state
itself is the caller's bytes (the commands layer frames the migration stream).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from fakeqemu.machine.block import graph, internal
from fakeqemu.machine.block.qcow2 import ImageError
from fakeqemu.machine.core.sizes import size_to_str
from fakeqemu.qmp.errors import GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine


def has_blk(m: Machine, name: str) -> bool:
    entry = graph.table(m)[name]
    return entry.get("attached") is not None or isinstance(entry["options"].get("id"), str)


def device_name(m: Machine, name: str) -> str:
    """bdrv_get_device_name: the BlockBackend's name ("" for a -blockdev under a device)."""
    drive = graph.table(m)[name]["options"].get("id")
    return drive if isinstance(drive, str) else ""


def device_or_node_name(m: Machine, name: str) -> str:
    return device_name(m, name) or name


def all_nodes(m: Machine) -> list[str]:
    """bdrv_first/bdrv_next: BlockBackend roots, then the monitor's nodes without a BlockBackend."""
    t = graph.table(m)
    with_blk = [n for n in t if has_blk(m, n)]
    return with_blk + [n for n in t if n not in with_blk]


def writable(m: Machine, name: str) -> bool:
    return not graph.table(m)[name]["options"].get("read-only", False)


def includes(m: Machine, name: str) -> bool:
    """bdrv_all_snapshots_includes_bs"""
    return writable(m, name) and (has_blk(m, name) or not graph.parents(m, name))


def can_snapshot(m: Machine, name: str) -> bool:
    """bdrv_can_snapshot: qcow2 itself, or a node whose only data child can (the snapshot fallback)."""
    entry = graph.table(m)[name]
    if not writable(m, name):
        return False
    driver = entry["options"].get("driver")
    if driver == "qcow2":
        return True
    child = graph.file_child(entry)
    if driver in graph.FILE_DRIVERS or child is None or graph.backing_child(entry) is not None:
        return False
    return can_snapshot(m, child)


def image_path(m: Machine, name: str) -> str:
    return str(graph.leaf_file(m, name).get("filename"))


def snapshots(m: Machine, name: str) -> list[internal.Snapshot]:
    """bdrv_snapshot_list of a node that can take snapshots"""
    return internal.list_snapshots(image_path(m, name))


def selected(m: Machine, devices: list[str] | None) -> list[str]:
    """bdrv_all_get_snapshot_devices, then the walk's filter: the nodes a command acts on."""
    if devices is None:
        return [n for n in all_nodes(m) if includes(m, n)]
    if not devices:
        raise GenericError("At least one device is required for snapshot")
    t = graph.table(m)
    for d in devices:
        if d not in t:
            raise GenericError(f"No block device node '{d}'")
    return list(devices)


def check_can_snapshot(m: Machine, nodes: list[str]) -> None:
    """bdrv_all_can_snapshot"""
    for n in nodes:
        if not can_snapshot(m, n):
            raise GenericError(f"Device '{device_or_node_name(m, n)}' is writable but does not support snapshots")


def has_snapshot(m: Machine, nodes: list[str], name: str) -> bool:
    """bdrv_all_has_snapshot: every node has one of that name."""
    return all(internal.find(snapshots(m, n), name) is not None for n in nodes)


def find_vmstate_node(m: Machine, nodes: list[str], vmstate: str | None) -> str:
    """bdrv_all_find_vmstate_bs"""
    for n in nodes:
        if (vmstate is None or vmstate == n) and can_snapshot(m, n):
            return n
    if vmstate is not None:
        raise GenericError(f"vmstate block device '{vmstate}' does not exist")
    raise GenericError("no block device can store vmstate for snapshot")


def _edit(m: Machine, node: str, act: Callable[[internal.Image], object], error: str) -> None:
    try:
        image = internal.Image(image_path(m, node))
    except (OSError, ImageError) as exc:
        raise GenericError(f"{error}: {exc}") from None
    try:
        act(image)
    except ImageError as exc:
        image.close(write=False)
        raise GenericError(f"{error}: {exc}") from None
    image.close()


def delete_all(m: Machine, nodes: list[str], name: str) -> None:
    """bdrv_all_delete_snapshot: where a node has no such snapshot there is nothing to do."""
    for n in nodes:
        if internal.find(snapshots(m, n), name) is not None:
            _edit(m, n, functools.partial(_delete, name=name),
                  f"Could not delete snapshot '{name}' on '{device_or_node_name(m, n)}'")  # fmt: skip


def _delete(image: internal.Image, name: str) -> None:
    sn = internal.find(image.snapshots, name)
    if sn is not None:
        image.delete(sn)


def default_name(now: float) -> str:
    return time.strftime("vm-%Y%m%d%H%M%S", time.localtime(now))


def save(m: Machine, name: str | None, overwrite: bool, vmstate: str | None, devices: list[str] | None,
         state: Callable[[], bytes]) -> None:  # fmt: skip
    """save_snapshot: the checks, the VM stopped while ``state()`` is written to the vmstate node and
    every node takes the snapshot (all undone if one fails), the VM running again if it ran."""
    nodes = selected(m, devices)
    check_can_snapshot(m, nodes)
    if name is not None:
        if overwrite:
            delete_all(m, nodes, name)
        elif has_snapshot(m, nodes, name):
            raise GenericError(f"Snapshot '{name}' already exists in one or more devices")
    target = find_vmstate_node(m, nodes, vmstate)
    saved_running = m.running
    m.stop("save-vm")
    try:
        now = time.time()
        sn_name = name if name is not None else default_name(now)
        data = state()
        for n in nodes:
            sn = internal.Snapshot("", sn_name, int(now), int(now * 1e6) % 1_000_000 * 1000, vm_clock_ns(m), 0)
            vm = data if n == target else b""
            try:
                _edit(m, n, functools.partial(internal.Image.create, sn=sn, vmstate=vm),
                      f"Could not create snapshot '{sn_name}' on '{device_or_node_name(m, n)}'")  # fmt: skip
            except GenericError:
                delete_all(m, nodes, sn_name)
                raise
    finally:
        if saved_running:
            m.cont()


def load(m: Machine, name: str, vmstate: str | None, devices: list[str] | None) -> bytes:
    """load_snapshot up to qemu_loadvm_state: the checks, every node back to the snapshot, and the
    VM state it holds (for the caller to load)."""
    nodes = selected(m, devices)
    check_can_snapshot(m, nodes)
    if not has_snapshot(m, nodes, name):
        raise GenericError(f"Snapshot '{name}' does not exist in one or more devices")
    target = find_vmstate_node(m, nodes, vmstate)
    sn = internal.find(snapshots(m, target), name)
    if sn is None or sn.vm_state_size == 0:
        raise GenericError("This is a disk-only snapshot. Revert to it  offline using qemu-img")
    data = b""
    for n in nodes:

        def go(im: internal.Image, n: str = n) -> None:
            nonlocal data
            found = internal.find_id_or_name(im.snapshots, name)
            if found is None:
                raise ImageError("Can't find the snapshot")
            if n == target:
                data = im.read_vmstate(found)
            im.goto(found)

        _edit(m, n, go, f"Could not load snapshot '{name}' on '{device_or_node_name(m, n)}'")
    return data


def vm_clock_ns(m: Machine) -> int:
    """QEMU_CLOCK_VIRTUAL: the time the VM has run (qtest's clock under -accel qtest)."""
    if m.config.accel == "qtest":
        return m.virtual_clock_ns
    return m.vclock.now_ns()


def dump(sn: internal.Snapshot | None, sid: str | None = None) -> str:
    """bdrv_snapshot_dump, one line without its end"""
    if sn is None:
        return f"{'ID':<10}{'TAG':<17}{'VM SIZE':>8}{'DATE':>20}{'VM CLOCK':>13}{'ICOUNT':>11}"
    date = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sn.date_sec))
    secs = sn.vm_clock_nsec // 1_000_000_000
    clock = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}.{sn.vm_clock_nsec // 1_000_000 % 1000:03d}"
    icount = "" if sn.icount == -1 else str(sn.icount)
    return f"{sid or sn.id:<9} {sn.name:<16} {size_to_str(sn.vm_state_size):>8}{date:>20}{clock:>13}{icount:>11}"


def info_snapshots(m: Machine) -> str:
    """hmp_info_snapshots, with "\\n" line ends"""
    target = find_vmstate_node(m, [n for n in all_nodes(m) if includes(m, n)], None)
    listed = snapshots(m, target)
    images: list[tuple[str, list[internal.Snapshot]]] = []
    for n in all_nodes(m):
        if can_snapshot(m, n):
            sns = snapshots(m, n)
            if sns:
                images.append((device_name(m, n), sns))
    if not images:
        return "There is no snapshot available.\n"
    nodes = [n for n in all_nodes(m) if includes(m, n)]
    common = [sn for sn in listed if has_snapshot(m, nodes, sn.name)]
    names = {sn.name for sn in common}
    out = "List of snapshots present on all disks:\n"
    if common:
        out += dump(None) + "\n" + "".join(dump(sn, "--") + "\n" for sn in common)
    else:
        out += "None\n"
    for image, sns in images:
        rest = [sn for sn in sns if sn.name not in names]
        if rest:
            out += f"\nList of partial (non-loadable) snapshots on '{image}':\n" + dump(None) + "\n"
            out += "".join(dump(sn) + "\n" for sn in rest)
    return out
