"""Block nodes as libvirt defines them (``blockdev-add`` of a protocol node, then a format node on top
of it) and the block queries: query-named-block-nodes, query-block. With QEMU 7.2's errors.

fakeqemu never reads an image: a ``file`` node checks that its file exists (QEMU opens it) and reports
the file's size; a format node reports its child's. The reply layout is QEMU's, recorded by
tools/record_probe.py (fakeqemu/data/probe.json, ``block``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from fakeqemu.commands.probe import probe_data
from fakeqemu.commands.registry import Context, command
from fakeqemu.qmp.errors import GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

#: protocol drivers whose ``filename`` names a file on the host
FILE_DRIVERS = frozenset({"file", "host_device", "host_cdrom"})
#: format drivers (the others are protocol drivers)
FORMAT_DRIVERS = frozenset({"raw", "qcow2", "qcow", "qed", "vmdk", "vdi", "vhdx", "vpc", "luks", "parallels",
                            "bochs", "cloop", "dmg"})  # fmt: skip


def _err(name: str, old: str, new: str) -> GenericError:
    desc = str(probe_data()["block"]["errors"][name]["desc"])
    return GenericError(desc.replace(old, new))


def _child_name(opts: dict[str, Any]) -> str | None:
    child = opts.get("file")
    return child if isinstance(child, str) else None


def _open_file(filename: str) -> None:
    """What QEMU's raw-posix open would report; the file's contents are never read."""
    try:
        os.stat(filename)
    except OSError as exc:
        raise GenericError(f"Could not open '{filename}': {exc.strerror}") from None


def add_node(machine: Machine, opts: dict[str, Any]) -> str:
    table = machine.backends.blockdevs
    name = opts.get("node-name")
    driver = opts.get("driver")
    child = opts.get("file")
    if isinstance(child, dict):
        if "node-name" not in child:
            n = 0
            while f"#block{n:03d}" in table:
                n += 1
            child = {**child, "node-name": f"#block{n:03d}"}
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
    if driver in FILE_DRIVERS and isinstance(opts.get("filename"), str):
        _open_file(opts["filename"])
    table[name] = {"options": dict(opts), "attached": None}
    return str(name)


def users_of(machine: Machine, name: str) -> list[str]:
    """Nodes that use ``name`` as their ``file`` child."""
    return [n for n, e in machine.backends.blockdevs.items() if _child_name(e["options"]) == name]


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
    if node.get("attached") is not None:
        raise GenericError(f"Node {name} is in use")
    if users_of(ctx.machine, name):
        raise GenericError(f"Block device {name} is in use")
    del table[name]
    return {}


# --- queries ------------------------------------------------------------------------------------------


def _leaf(machine: Machine, name: str) -> dict[str, Any]:
    """The protocol node at the bottom of ``name``'s chain (or the node itself)."""
    table = machine.backends.blockdevs
    opts: dict[str, Any] = table[name]["options"]
    seen = {name}
    while True:
        child = _child_name(opts)
        if child is None or child not in table or child in seen:
            return opts
        seen.add(child)
        opts = table[child]["options"]


def _sizes(opts: dict[str, Any]) -> tuple[int, int]:
    filename = opts.get("filename")
    if opts.get("driver") in FILE_DRIVERS and isinstance(filename, str):
        try:
            st = os.stat(filename)
        except OSError:
            return 0, 0
        return st.st_size, st.st_blocks * 512
    if isinstance(opts.get("size"), int):  # null-co and friends
        return int(opts["size"]), 0
    return 0, 0


def node_info(machine: Machine, name: str) -> dict[str, Any]:
    """BlockDeviceInfo of one node, in QAPI member order."""
    opts = machine.backends.blockdevs[name]["options"]
    leaf = _leaf(machine, name)
    filename = leaf.get("filename")
    if not isinstance(filename, str):
        filename = f"{leaf.get('driver', 'null-co')}://"
    driver = str(opts.get("driver", "raw"))
    virtual, actual = _sizes(leaf)
    ro = bool(opts.get("read-only", False))
    cache = opts.get("cache") if isinstance(opts.get("cache"), dict) else {}
    return {
        "file": filename,
        "node-name": name,
        "ro": ro,
        "drv": driver,
        "backing_file_depth": 0,
        "encrypted": False,
        "detect_zeroes": str(opts.get("detect-zeroes", "off")),
        "bps": 0,
        "bps_rd": 0,
        "bps_wr": 0,
        "iops": 0,
        "iops_rd": 0,
        "iops_wr": 0,
        "image": {
            "filename": filename,
            "format": driver,
            "dirty-flag": False,
            "actual-size": actual,
            "virtual-size": virtual,
        },
        "cache": {
            "writeback": True,
            "direct": bool(cache.get("direct", False)),
            "no-flush": bool(cache.get("no-flush", False)),
        },
        "write_threshold": 0,
    }


@command("query-named-block-nodes")
def query_named_block_nodes(ctx: Context, args: dict[str, Any]) -> Any:
    # QEMU walks its graph-node list, which gains nodes at the tail; a format node is added after its
    # child but QEMU lists it first (recorded: libvirt-1-format, then libvirt-1-storage)
    names = [n for n in ctx.machine.backends.blockdevs if not n.startswith("#")]
    ordered: list[str] = []
    for n in names:
        if users_of(ctx.machine, n):
            continue
        chain = [n]
        child = _child_name(ctx.machine.backends.blockdevs[n]["options"])
        while child is not None and child in ctx.machine.backends.blockdevs and child not in chain:
            chain.append(child)
            child = _child_name(ctx.machine.backends.blockdevs[child]["options"])
        ordered.extend(c for c in chain if c not in ordered and not c.startswith("#"))
    return [node_info(ctx.machine, n) for n in ordered]


@command("query-block")
def query_block(ctx: Context, args: dict[str, Any]) -> Any:
    """One BlockInfo per block backend: the devices that use a node (virtio-blk's backend is its
    virtio-backend child), and the -drive backends by id."""
    out = []
    m = ctx.machine
    for name, entry in m.backends.blockdevs.items():
        dev = entry.get("attached")
        opts = entry["options"]
        drive_id = opts.get("id") if isinstance(opts.get("id"), str) else None
        if dev is None and drive_id is None:
            continue
        info: dict[str, Any] = {"device": drive_id or ""}
        if dev is not None:
            backend = dev.children.get("virtio-backend")
            info["qdev"] = (backend or dev).path
        info["type"] = "unknown"
        info["removable"] = False
        info["locked"] = False
        info["inserted"] = node_info(m, name)
        info["io-status"] = "ok"
        out.append(info)
    return out
