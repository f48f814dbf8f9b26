"""Block I/O accounting as ``query-blockstats`` reports it: per node and per block backend (a device's
root node), counters the guest model's I/O moves. The guest's disk I/O is idle unless a test drives it
(``record``), so a fresh VM reports zeros, as QEMU with no guest OS does.

QEMU keeps two sets: the BlockBackend's (what a device does: ``account_invalid``/``account_failed`` on)
and each node's own (both off); ``query-blockstats`` shows the backend's set at the top of each entry and
the nodes' below it (``parent`` is the node's ``file`` child, ``backing`` its backing child).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakeqemu.machine.block import graph

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

#: BlockDeviceStats' integer counters, in QAPI member order
COUNTERS = (
    "rd_bytes", "wr_bytes", "unmap_bytes", "rd_operations", "wr_operations", "flush_operations",
    "unmap_operations", "rd_total_time_ns", "wr_total_time_ns", "flush_total_time_ns", "unmap_total_time_ns",
    "wr_highest_offset", "rd_merged", "wr_merged", "unmap_merged",
)  # fmt: skip
FAILURES = (
    "failed_rd_operations", "failed_wr_operations", "failed_flush_operations", "failed_unmap_operations",
    "invalid_rd_operations", "invalid_wr_operations", "invalid_flush_operations", "invalid_unmap_operations",
)  # fmt: skip


def _counters(entry: dict[str, Any], key: str) -> dict[str, int]:
    counters: dict[str, int] = entry.setdefault(key, {})
    return counters


def record(m: Machine, node: str, op: str, nbytes: int, offset: int = 0) -> None:
    """The guest read (``rd``) or wrote (``wr``) ``nbytes`` at ``offset`` through the device on ``node``:
    the backend's and every node's counters down the chain move."""
    entry = graph.table(m)[node]
    for key, name in [("backend-stats", node), *(("stats", n) for n in _below(m, node))]:
        counters = _counters(graph.table(m)[name] if key == "stats" else entry, key)
        counters[f"{op}_bytes"] = counters.get(f"{op}_bytes", 0) + nbytes
        counters[f"{op}_operations"] = counters.get(f"{op}_operations", 0) + 1
        if op == "wr":
            counters["wr_highest_offset"] = max(counters.get("wr_highest_offset", 0), offset + nbytes)


def _below(m: Machine, node: str) -> list[str]:
    """The node and its file children, down to the protocol node."""
    out = [node]
    child = graph.file_child(graph.table(m)[node])
    while child is not None and child in graph.table(m) and child not in out:
        out.append(child)
        child = graph.file_child(graph.table(m)[child])
    return out


def _stats(counters: dict[str, int], accounting: bool) -> dict[str, Any]:
    out: dict[str, Any] = {k: counters.get(k, 0) for k in COUNTERS}
    out.update({k: 0 for k in FAILURES})
    out["account_invalid"] = accounting
    out["account_failed"] = accounting
    out["timed_stats"] = []
    return out


def node_stats(m: Machine, name: str, backend: bool, blk_level: bool) -> dict[str, Any]:
    """bdrv_query_bds_stats: one node's BlockStats, with its children's below it."""
    entry = graph.table(m)[name]
    out: dict[str, Any] = {"node-name": name}
    if backend:
        out["stats"] = _stats(_counters(entry, "backend-stats"), True)
    else:
        out["stats"] = _stats(_counters(entry, "stats"), False)
    driver = entry["options"].get("driver")
    if driver in ("file", "host_device"):
        out["driver-specific"] = {"driver": driver, "discard-nb-ok": 0, "discard-nb-failed": 0, "discard-bytes-ok": 0}
    child = graph.file_child(entry)
    if child is not None and child in graph.table(m):
        out["parent"] = node_stats(m, child, False, blk_level)
    back = graph.backing_child(entry)
    if blk_level and back is not None and back in graph.table(m):
        out["backing"] = node_stats(m, back, False, blk_level)
    return out


def query_blockstats(m: Machine, query_nodes: bool, backends: list[tuple[str, str | None, str | None]]) -> list[Any]:
    """``backends``: each BlockBackend's name, the device it is attached to and its root node (None: no
    medium), as query-block lists them."""
    if query_nodes:
        return [node_stats(m, n, False, False) for n in graph.table(m) if not n.startswith("#")]
    out = []
    for name, qdev, node in backends:
        stats = node_stats(m, node, True, True) if node is not None else {"stats": _stats({}, True)}
        head: dict[str, Any] = {"device": name}
        if qdev is not None:
            head["qdev"] = qdev
        out.append({**head, **stats})
    return out
