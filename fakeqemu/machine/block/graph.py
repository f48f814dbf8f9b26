"""The block graph over ``machine.backends.blockdevs``: each node's ``file`` and ``backing`` children, the
nodes above a node, chains, QEMU's look-ups and what ``query-named-block-nodes`` says of a node.

A node entry is ``{"options": the blockdev-add arguments, "attached": the device using it or None,
"backing": the backing node's name or None}``. Image sizes and backing file names come from the files
themselves (fakeqemu.machine.block.qcow2), as QEMU reads them.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from fakeqemu.machine.block import internal, qcow2
from fakeqemu.qmp.encode import encode
from fakeqemu.qmp.errors import GenericError, QMPError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

#: protocol drivers whose ``filename`` names a file on the host
FILE_DRIVERS = frozenset({"file", "host_device", "host_cdrom"})
SECTOR = 512


def auto_name(names: Collection[str]) -> str:
    """The name QEMU gives a node created without one (``#blockNNN``)."""
    n = 0
    while f"#block{n:03d}" in names:
        n += 1
    return f"#block{n:03d}"


def table(m: Machine) -> dict[str, dict[str, Any]]:
    return m.backends.blockdevs


def file_child(entry: dict[str, Any]) -> str | None:
    child = entry["options"].get("file")
    return child if isinstance(child, str) else None


def backing_child(entry: dict[str, Any]) -> str | None:
    b = entry.get("backing")
    return b if isinstance(b, str) else None


def children(entry: dict[str, Any]) -> list[str]:
    return [c for c in (file_child(entry), backing_child(entry)) if c is not None]


def parents(m: Machine, name: str) -> list[str]:
    """Nodes that use ``name`` as their file or backing child."""
    return [n for n, e in table(m).items() if name in children(e)]


def lookup(m: Machine, name: str) -> dict[str, Any]:
    """bdrv_lookup_bs by node name (or a -drive id)."""
    t = table(m)
    if name in t:
        return t[name]
    for entry in t.values():
        if entry["options"].get("id") == name:
            return entry
    raise GenericError(f"Cannot find device='{name}' nor node-name='{name}'")


def lookup_pair(m: Machine, device: str, node: str) -> str:
    """bdrv_lookup_bs(device, node_name): a -drive's node by its id, else a node by name."""
    t = table(m)
    for name, entry in t.items():
        if device and entry["options"].get("id") == device:
            return name
    if node and node in t:
        return node
    raise GenericError(f"Cannot find device='{device}' nor node-name='{node}'")


def node_name(m: Machine, name: str) -> str:
    entry = lookup(m, name)
    return str(entry["options"]["node-name"])


def find_node(m: Machine, name: str) -> str:
    """bdrv_find_node: node names only."""
    if name not in table(m):
        raise GenericError(f"Cannot find node {name}")
    return name


def is_root(m: Machine, name: str) -> bool:
    return not parents(m, name) and m.jobs.blocker(name) is None


def root(m: Machine, name: str) -> str:
    """qmp_get_root_bs"""
    n = node_name(m, name)
    if not is_root(m, n):
        raise GenericError("Need a root block node")
    return n


def check_busy(m: Machine, name: str, backing_ok: bool = False) -> None:
    """bdrv_op_is_blocked: a node a job holds, or the backing node of another, which blocks every
    operation but stream, commit into it and backup from it (``backing_ok``)."""
    job = m.jobs.blocker(name)
    if job is not None:
        raise GenericError(f"Node '{name}' is busy: block device is in use by block job: {job.driver.job_type}")
    for parent in [] if backing_ok else parents(m, name):
        if backing_child(table(m)[parent]) == name:
            raise GenericError(f"Node '{name}' is busy: node is used as backing hd of '{parent}'")


def chain(m: Machine, name: str) -> list[str]:
    """``name`` and its backing nodes, top first."""
    out = [name]
    b = backing_child(table(m)[name])
    while b is not None and b in table(m) and b not in out:
        out.append(b)
        b = backing_child(table(m)[b])
    return out


def _legacy_file(opts: dict[str, Any]) -> str | None:
    """The image file a -drive (``id``, ``file=PATH``) opens: its format node has a file node below it."""
    path = opts.get("file")
    return path if "id" in opts and isinstance(path, str) and "://" not in path else None


def leaf_file(m: Machine, name: str) -> dict[str, Any]:
    """The options of the protocol node under a format node (or of the node itself)."""
    opts: dict[str, Any] = table(m)[name]["options"]
    seen = {name}
    while True:
        child = opts.get("file")
        if _legacy_file(opts) is not None and child not in table(m):
            return {"driver": "file", "filename": child}
        if not isinstance(child, str) or child not in table(m) or child in seen:
            return opts
        seen.add(child)
        opts = table(m)[child]["options"]


def node_driver(m: Machine, name: str) -> str:
    """The node's driver; a -drive's is its ``format``, else what the image's first bytes say."""
    opts = table(m)[name]["options"]
    if "driver" in opts or _legacy_file(opts) is None:
        return str(opts.get("driver", "raw"))
    return str(opts["format"]) if "format" in opts else probe_format(str(_legacy_file(opts)))


def probe_format(path: str) -> str:
    """bdrv_probe_all among the formats fakeqemu reads: qcow2 by its magic, else raw."""
    try:
        with open(path, "rb") as f:
            return "qcow2" if f.read(4) == qcow2.MAGIC else "raw"
    except OSError:
        return "raw"


def read_only(opts: dict[str, Any]) -> bool:
    """blockdev-add's ``read-only``, or a -drive's ``readonly=on``."""
    return opts.get("read-only") is True or opts.get("readonly") == "on"


def filename(m: Machine, name: str) -> str:
    leaf = leaf_file(m, name)
    f = leaf.get("filename")
    return f if isinstance(f, str) else f"{leaf.get('driver', 'null-co')}://"


def header_backing(m: Machine, name: str) -> str | None:
    """The backing file the node's image names, as a path (relative names from the image's folder)."""
    hdr = header(m, name)
    if hdr is None or not hdr.backing_file:
        return None
    if os.path.isabs(hdr.backing_file) or ":" in hdr.backing_file:
        return hdr.backing_file
    return os.path.join(os.path.dirname(filename(m, name)), hdr.backing_file)


def _as_image(m: Machine, name: str) -> bool:
    """Does the node's image say what it is (its backing child the one its header names)?"""
    if header(m, name) is None:
        return True
    back = backing_child(table(m)[name])
    named = header_backing(m, name)
    return named == (filename(m, back) if back is not None else None)


def open_options(m: Machine, name: str) -> dict[str, Any]:
    """The options bdrv_refresh_filename writes for a node its image does not describe."""
    opts = table(m)[name]["options"]
    if opts.get("driver") in FILE_DRIVERS:
        return {"driver": opts.get("driver"), "filename": opts.get("filename")}
    out: dict[str, Any] = {}
    if not _as_image(m, name):
        back = backing_child(table(m)[name])
        out["backing"] = None if back is None else open_options(m, back)
    out["driver"] = opts.get("driver")
    child = file_child(table(m)[name])
    if child is not None and child in table(m):
        out["file"] = open_options(m, child)
    return out


def shown_name(m: Machine, name: str) -> str:
    """bdrv_refresh_filename's name: the image file, or a ``json:`` filename of the node's options where
    its backing child is not the one its image names."""
    if _as_image(m, name):
        return filename(m, name)
    return "json:" + encode(open_options(m, name))


def file_sizes(opts: dict[str, Any]) -> tuple[int, int]:
    """(length as QEMU's raw-posix reports it, bytes allocated) of a protocol node."""
    path = opts.get("filename")
    if opts.get("driver") in FILE_DRIVERS and isinstance(path, str):
        try:
            st = os.stat(path)
        except OSError:
            return 0, 0
        return -(-st.st_size // SECTOR) * SECTOR, st.st_blocks * 512
    if isinstance(opts.get("size"), int):  # null-co and friends
        return int(opts["size"]), 0
    if opts.get("driver") in ("null-co", "null-aio"):
        return 1 << 30, 0  # their default size
    file = opts.get("file")
    if isinstance(file, str) and file.split("://")[0] in ("null-co", "null-aio") and "://" in file:
        return 1 << 30, 0  # a -drive file=null-co:// (the protocol prefix picks the driver)
    return 0, 0


def header(m: Machine, name: str) -> qcow2.Header | None:
    """The qcow2 header of a qcow2 node's image file, or None."""
    if node_driver(m, name) != "qcow2":
        return None
    path = leaf_file(m, name).get("filename")
    if not isinstance(path, str):
        return None
    try:
        return qcow2.read_header(path)
    except (OSError, qcow2.ImageError):
        return None


def length(m: Machine, name: str) -> int:
    """bdrv_getlength: the virtual size of a format node, the file's size for a protocol node."""
    hdr = header(m, name)
    if hdr is not None:
        return hdr.size
    return file_sizes(leaf_file(m, name))[0]


def allocated(m: Machine, name: str) -> set[int]:
    """Clusters (64 KiB units) that ``name``'s own image holds data for; a raw file: all of it."""
    hdr = header(m, name)
    if hdr is not None:
        path = leaf_file(m, name).get("filename")
        try:
            return qcow2.allocated_clusters(str(path))
        except (OSError, qcow2.ImageError, ValueError):
            return set()
    return set(range(-(-length(m, name) // qcow2.CLUSTER)))


def image_info(m: Machine, name: str) -> dict[str, Any]:
    """ImageInfo, in QAPI member order, with the backing chain as QEMU nests it."""
    entry = table(m)[name]
    leaf = leaf_file(m, name)
    fname = shown_name(m, name)
    driver = node_driver(m, name)
    virtual, actual = file_sizes(leaf)
    hdr = header(m, name)
    info: dict[str, Any] = {"filename": fname, "format": driver, "actual-size": actual}
    if driver not in ("null-co", "null-aio"):
        info["dirty-flag"] = False  # bdrv_get_info answers (the null drivers have none)
    info["virtual-size"] = hdr.size if hdr is not None else virtual
    if hdr is not None:
        info["cluster-size"] = hdr.cluster_size
    back = backing_child(entry)
    if hdr is not None and hdr.backing_file:
        info["backing-filename"] = hdr.backing_file
        info["full-backing-filename"] = header_backing(m, name)
        if hdr.backing_format:
            info["backing-filename-format"] = hdr.backing_format
    if hdr is not None and hdr.nb_snapshots:
        snaps = internal.list_snapshots(str(leaf.get("filename")))
        if snaps:
            info["snapshots"] = [s.info() for s in snaps]
    if back is not None and back in table(m):
        info["backing-image"] = image_info(m, back)
    if hdr is not None:
        info["format-specific"] = {"type": "qcow2", "data": hdr.format_specific()}
    return info


def node_info(m: Machine, name: str) -> dict[str, Any]:
    """BlockDeviceInfo of one node, in QAPI member order."""
    entry = table(m)[name]
    opts = entry["options"]
    cache = opts.get("cache") if isinstance(opts.get("cache"), dict) else {}
    depth = len(chain(m, name)) - 1
    out: dict[str, Any] = {
        "file": shown_name(m, name),
        "node-name": name,
        "ro": read_only(opts),
        "drv": node_driver(m, name),
    }
    back = backing_child(entry)
    if back is not None:
        hdr = header(m, name)
        named = hdr.backing_file if hdr is not None else None
        out["backing_file"] = named if named and _as_image(m, name) else shown_name(m, back)
    out.update(
        {
            "backing_file_depth": depth,
            "encrypted": False,
            "detect_zeroes": str(opts.get("detect-zeroes", "off")),
            "bps": 0,
            "bps_rd": 0,
            "bps_wr": 0,
            "iops": 0,
            "iops_rd": 0,
            "iops_wr": 0,
            "image": image_info(m, name),
            "cache": {
                "writeback": True,
                "direct": bool(cache.get("direct", False)),
                "no-flush": bool(cache.get("no-flush", False)),
            },
            "write_threshold": 0,
        }
    )
    bitmaps = m.bitmaps.info(name)
    if bitmaps:
        out["dirty-bitmaps"] = bitmaps
    return out


def replace(m: Machine, old: str, new: str) -> None:
    """bdrv_replace_node: every user of ``old`` (devices, parent nodes but ``new`` itself) now uses ``new``."""
    t = table(m)
    old_entry, new_entry = t[old], t[new]
    if old_entry.get("attached") is not None:
        new_entry["attached"], old_entry["attached"] = old_entry["attached"], None
    for n, e in t.items():
        if n == new:
            continue
        if backing_child(e) == old:
            e["backing"] = new
        if file_child(e) == old:
            e["options"] = {**e["options"], "file": new}


def set_backing(m: Machine, name: str, backing: str | None, backing_file: str | None = None) -> None:
    """Change a node's backing child; a qcow2 image's header follows (bdrv_change_backing_file)."""
    t = table(m)
    t[name]["backing"] = backing
    hdr = header(m, name)
    if hdr is None:
        return
    path = str(leaf_file(m, name).get("filename"))
    if backing is None:
        qcow2.set_backing(path, None, None)
    else:
        fmt = str(t[backing]["options"].get("driver", "raw"))
        qcow2.set_backing(path, backing_file or filename(m, backing), fmt)


def open_error(path: str, exc: OSError) -> QMPError:
    return GenericError(f"Could not open '{path}': {exc.strerror}")
