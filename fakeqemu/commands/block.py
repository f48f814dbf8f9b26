"""Block nodes as libvirt defines them (``blockdev-add`` of a protocol node, then a format node on top
of it) and the block queries: query-named-block-nodes, query-block. With QEMU 7.2's errors.

A ``file`` node checks that its file exists (QEMU opens it); what the queries report of a node (sizes,
qcow2 details, the backing chain) is fakeqemu.machine.block.graph's. The reply layout is QEMU's, recorded by
tools/record_probe.py (fakeqemu/data/probe.json, ``block``).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from fakeqemu.commands.block_io import backend_limits
from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.backends import has_medium
from fakeqemu.machine.block import graph, locks, stats, throttle
from fakeqemu.machine.block.nodes import add_node
from fakeqemu.machine.devices import storage
from fakeqemu.qmp.errors import GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

#: format drivers (the others are protocol drivers)
FORMAT_DRIVERS = frozenset({"raw", "qcow2", "qcow", "qed", "vmdk", "vdi", "vhdx", "vpc", "luks", "parallels",
                            "bochs", "cloop", "dmg"})  # fmt: skip


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


@command("blockdev-add")
def blockdev_add(ctx: Context, args: dict[str, Any]) -> Any:
    if "node-name" not in args:  # qmp_blockdev_add, before it opens anything
        raise GenericError("'node-name' must be specified for the root node")
    add_node(ctx.machine.backends.blockdevs, args, warn=_warn)
    return {}


def _warn(text: str) -> None:
    """warn_report from a QMP command: no option to name."""
    print(f"qemu-system-x86_64: warning: {text}", file=sys.stderr, flush=True)


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
    names = [n for n, e in table.items() if has_medium(e)]
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
