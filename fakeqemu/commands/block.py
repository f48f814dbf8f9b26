"""Block nodes as libvirt defines them (``blockdev-add`` of a protocol node, then a format node on top
of it) and the block queries: query-named-block-nodes, query-block. With QEMU 7.2's errors.

A ``file`` node checks that its file exists (QEMU opens it); what the queries report of a node (sizes,
qcow2 details, the backing chain) is fakeqemu.machine.block.graph's. The reply layout is QEMU's, recorded by
tools/record_probe.py (fakeqemu/data/probe.json, ``block``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from fakeqemu.commands.block_io import backend_limits
from fakeqemu.commands.probe import probe_data
from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.backends import has_medium
from fakeqemu.machine.block import graph, locks, stats, throttle
from fakeqemu.machine.block.graph import auto_name
from fakeqemu.machine.devices import storage
from fakeqemu.qmp.errors import GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

#: format drivers (the others are protocol drivers)
FORMAT_DRIVERS = frozenset({"raw", "qcow2", "qcow", "qed", "vmdk", "vdi", "vhdx", "vpc", "luks", "parallels",
                            "bochs", "cloop", "dmg"})  # fmt: skip


def _err(name: str, old: str, new: str) -> GenericError:
    desc = str(probe_data()["block"]["errors"][name]["desc"])
    return GenericError(desc.replace(old, new))


def _child_name(opts: dict[str, Any]) -> str | None:
    child = opts.get("file")
    return child if isinstance(child, str) else None


def check_file(filename: str) -> None:
    """What QEMU's raw-posix open would report; the file's contents are never read."""
    try:
        os.stat(filename)
    except OSError as exc:
        raise GenericError(f"Could not open '{filename}': {exc.strerror}") from None


def drop_unused(machine: Machine, name: str) -> None:
    """bdrv_unref of a node only a job held: gone with its file node, unless something uses it now."""
    table = machine.backends.blockdevs
    for node in (name, graph.file_child(table[name]) if name in table else None):
        if node is None or node not in table:
            continue
        if table[node].get("attached") is not None or graph.parents(machine, node):
            return
        locks.release(table.pop(node))
        machine.bitmaps.nodes.pop(node, None)


def add_node(machine: Machine, opts: dict[str, Any]) -> str:
    table = machine.backends.blockdevs
    name = opts.get("node-name")
    driver = opts.get("driver")
    child = opts.get("file")
    if isinstance(child, dict):
        if "node-name" not in child:
            child = {**child, "node-name": auto_name(table)}
        child_name: str | None = add_node(machine, child)
        opts = {**opts, "file": child_name}
    else:
        child_name = _child_name(opts)
    if child_name is not None and child_name not in table:
        raise _err("missing-child", "libvirt-1-storage", child_name)
    if name is None:
        raise GenericError("'node-name' must be specified for the root node")
    if name in table:
        raise GenericError(f"Duplicate nodes with node-name='{name}'")
    if driver in graph.FILE_DRIVERS and isinstance(opts.get("filename"), str):
        check_file(opts["filename"])
    backing = opts.get("backing")
    if isinstance(backing, str) and backing not in table:
        raise GenericError(f"Cannot find device='' nor node-name='{backing}'")
    table[name] = {"options": dict(opts), "attached": None, "backing": backing if isinstance(backing, str) else None}
    try:
        locks.lock_node(table, str(name))
    except locks.LockError as exc:
        del table[name]
        raise GenericError(str(exc).split("\n")[0]) from None  # QMP shows no hint
    return str(name)


@command("blockdev-add")
def blockdev_add(ctx: Context, args: dict[str, Any]) -> Any:
    add_node(ctx.machine, args)
    return {}


@command("blockdev-del")
def blockdev_del(ctx: Context, args: dict[str, Any]) -> Any:
    name = args["node-name"]
    table = ctx.machine.backends.blockdevs
    node = table.get(name)
    if node is None:
        raise GenericError(f"Failed to find node with node-name='{name}'")
    job = ctx.machine.jobs.blocker(name)
    if job is not None:
        raise GenericError(f"Node '{name}' is busy: block device is in use by block job: {job.driver.job_type}")
    if node.get("attached") is not None:
        raise GenericError(f"Node {name} is in use")
    if graph.parents(ctx.machine, name):
        raise GenericError(f"Block device {name} is in use")
    locks.release(table.pop(name))
    ctx.machine.bitmaps.nodes.pop(name, None)
    return {}


# --- queries ------------------------------------------------------------------------------------------


@command("query-named-block-nodes")
def query_named_block_nodes(ctx: Context, args: dict[str, Any]) -> Any:
    # QEMU appends each new node to its graph-node list and lists them by prepending: newest first
    table = ctx.machine.backends.blockdevs
    names = [n for n, e in table.items() if not n.startswith("#") and has_medium(e)]
    return [graph.node_info(ctx.machine, n) for n in reversed(names)]


@command("query-block")
def query_block(ctx: Context, args: dict[str, Any]) -> Any:
    """One BlockInfo per BlockBackend (fakeqemu.machine.devices.storage.backends), in QAPI member order."""
    m = ctx.machine
    out = []
    for blk, node, name, drive in storage.backends(m):
        # a legacy drive drive_del'ed while its device holds it
        anonymous = drive is not None and bool(drive.get("anonymous"))
        empty = node is None or not has_medium(m.backends.blockdevs[node])
        info: dict[str, Any] = {"device": name}
        if blk is not None:
            info["qdev"] = storage.qdev_name(blk.dev)
        info["type"] = "unknown"
        info["removable"] = blk is None or blk.removable  # no device: blk_dev_has_removable_media
        info["locked"] = blk is not None and blk.locked
        if not (anonymous or empty):
            assert node is not None
            info["inserted"] = throttle.with_limits(graph.node_info(m, node), backend_limits(m, node))
        if blk is not None and blk.removable:
            info["tray_open"] = blk.tray_open
        if blk is not None and not anonymous:  # iostatus: a device's, until drive_del sets werror=report
            info["io-status"] = "ok"
        out.append(info)
    return out


@command("query-blockstats")
def query_blockstats(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine
    return stats.query_blockstats(m, bool(args.get("query-nodes", False)), storage.blockstats_backends(m))
