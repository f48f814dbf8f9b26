"""blockdev-reopen (QEMU 7.2's qmp_blockdev_reopen and bdrv_reopen_multiple): each node of the list is
reopened with exactly the options given (an option left out takes its default), all or none.

Checks in QEMU's order: the node names (``node-name not specified``, ``Failed to find node``), then per
node the ``backing`` option a node with a backing file must name, the options that cannot change
(``driver``, a file's ``filename``), the new backing node (found, no cycle), then the permissions: a node
made read-only under a writer, a writable node over a read-only child, a file node two writers would
share. A reopen leaves the image files alone (a new backing node does not rewrite the header)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.block import graph, locks
from fakeqemu.qmp.errors import GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

#: drivers with a ``backing`` child (BlockdevOptionsGenericCOWFormat)
COW_DRIVERS = frozenset({"qcow2", "qcow", "qed", "vmdk"})
#: per-driver options a reopen may not change
FIXED = {"file": ("filename",), "host_device": ("filename",), "host_cdrom": ("filename",)}


def _descendants(m: Machine, name: str) -> set[str]:
    t = graph.table(m)
    seen: set[str] = set()
    todo = [name]
    while todo:
        n = todo.pop()
        if n in seen or n not in t:
            continue
        seen.add(n)
        todo.extend(graph.children(t[n]))
    return seen


def _read_only(opts: dict[str, Any]) -> bool:
    return bool(opts.get("read-only", False))


def _writers(m: Machine, name: str, new: dict[str, dict[str, Any]]) -> bool:
    """Does anything write through ``name``: its device, or a writable format node over it as ``file``."""
    t = graph.table(m)
    if t[name].get("attached") is not None:
        return True
    for parent, entry in t.items():
        opts = new.get(parent, entry["options"])
        if opts.get("file") == name and not _read_only(opts):
            return True
    return False


def _prepare(m: Machine, opts: dict[str, Any]) -> None:
    t = graph.table(m)
    name = str(opts["node-name"])
    entry = t[name]
    old = entry["options"]
    hdr = graph.header(m, name)
    has_backing = graph.backing_child(entry) is not None or (hdr is not None and bool(hdr.backing_file))
    if old.get("driver") in COW_DRIVERS and "backing" not in opts and has_backing:
        raise GenericError(f"backing is missing for '{name}'")
    if opts.get("driver") != old.get("driver"):
        raise GenericError("Cannot change the option 'driver'")
    for key in FIXED.get(str(old.get("driver")), ()):
        if opts.get(key) != old.get(key):
            raise GenericError(f"Cannot change the option '{key}'")
    backing = opts.get("backing")
    if isinstance(backing, str):
        if backing not in t:
            raise GenericError(f"Cannot find device='' nor node-name='{backing}'")
        if name in _descendants(m, backing):
            raise GenericError(f"Making '{backing}' a backing child of '{name}' would create a cycle")


def _check_permissions(m: Machine, new: dict[str, dict[str, Any]]) -> None:
    t = graph.table(m)
    for name, opts in new.items():
        if _read_only(opts) and _writers(m, name, new):
            raise GenericError(f"Read-only block node '{name}' cannot support read-write users")
        child = opts.get("file")
        if _read_only(opts) or not isinstance(child, str) or child not in t:
            continue
        if _read_only(new.get(child, t[child]["options"])):
            raise GenericError("Block node is read-only")
        if child == t[name]["options"].get("file"):
            continue
        for other, entry in t.items():
            other_opts = new.get(other, entry["options"])
            if other != name and other_opts.get("file") == child and not _read_only(other_opts):
                raise GenericError(
                    f"Permission conflict on node '{child}': permissions 'write, resize' are both required by "
                    f"node '{other}' (uses node '{child}' as 'file' child) and unshared by node '{name}' (uses "
                    f"node '{child}' as 'file' child)."
                )


@command("blockdev-reopen")
def blockdev_reopen(ctx: Context, args: dict[str, Any]) -> Any:
    m = ctx.machine
    t = graph.table(m)
    if not args["options"]:
        # QEMU 7.2 aborts here (bdrv_reopen_multiple: assertion `bs_queue != NULL' failed)
        raise GenericError("blockdev-reopen needs at least one node")
    new: dict[str, dict[str, Any]] = {}
    for opts in args["options"]:
        if "node-name" not in opts:
            raise GenericError("node-name not specified")
        if opts["node-name"] not in t:
            raise GenericError(f"Failed to find node with node-name='{opts['node-name']}'")
        new[str(opts["node-name"])] = dict(opts)
    for opts in new.values():
        _prepare(m, opts)
    _check_permissions(m, new)
    for name, opts in new.items():
        entry = t[name]
        if "backing" in opts:
            entry["backing"] = opts["backing"] if isinstance(opts["backing"], str) else None
        entry["options"] = opts
        locks.release(entry)
    for name in new:
        locks.lock_node(t, name)
    return {}
