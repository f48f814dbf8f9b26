"""qcow2 image headers: read the fields QEMU reports, write new images and change an image's backing file.

fakeqemu never moves guest data, but the images it creates and the chains it rewrites are real files that
``qemu-img info --backing-chain`` and ``qemu-img check`` accept: version 3 headers laid out as
``qemu-img create -f qcow2`` lays them out (header and extensions in cluster 0, refcount table in
cluster 1, one refcount block in cluster 2, the L1 table from cluster 3), see QEMU's docs/interop/qcow2.txt.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

MAGIC = b"QFI\xfb"
CLUSTER_BITS = 16
CLUSTER = 1 << CLUSTER_BITS
HEADER_LENGTH = 112
EXT_END = 0
EXT_BACKING_FORMAT = 0xE2792ACA
EXT_FEATURE_TABLE = 0x6803F857
#: (type, bit, name) of the feature name table qemu-img writes
FEATURES = (
    (0, 0, b"dirty bit"),
    (0, 1, b"corrupt bit"),
    (0, 2, b"external data file"),
    (0, 3, b"compression type"),
    (0, 4, b"extended L2 entries"),
    (1, 0, b"lazy refcounts"),
    (2, 0, b"bitmaps"),
    (2, 1, b"raw external data"),
)
_FIXED = struct.Struct(">4sIQIIQIIQQIIQQQQII")


class ImageError(Exception):
    """Not a qcow2 image fakeqemu can read (QEMU would fail to open it)."""


@dataclass
class Header:
    size: int
    backing_file: str | None = None
    backing_format: str | None = None
    cluster_bits: int = CLUSTER_BITS
    l1_size: int = 0
    l1_table_offset: int = 3 * CLUSTER
    refcount_table_offset: int = CLUSTER
    refcount_table_clusters: int = 1
    nb_snapshots: int = 0
    snapshots_offset: int = 0
    incompatible: int = 0
    compatible: int = 0
    autoclear: int = 0
    refcount_order: int = 4
    extra: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def cluster_size(self) -> int:
        return 1 << self.cluster_bits

    def format_specific(self) -> dict[str, object]:
        """ImageInfoSpecificQCow2 as QEMU fills it for a version 3 image."""
        return {
            "compat": "1.1",
            "compression-type": "zlib",
            "lazy-refcounts": bool(self.compatible & 1),
            "refcount-bits": 1 << self.refcount_order,
            "corrupt": bool(self.incompatible & 2),
            "extended-l2": bool(self.incompatible & 16),
        }


def is_qcow2(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == MAGIC
    except OSError:
        return False


def read_header(path: str) -> Header:
    with open(path, "rb") as f:
        head = f.read(CLUSTER)
    if len(head) < _FIXED.size or head[:4] != MAGIC:
        raise ImageError("Image is not in qcow2 format")
    (_, version, bf_off, bf_size, cbits, size, _crypt, l1_size, l1_off, rt_off, rt_clusters, nb_snap, snap_off,
     incompat, compat, autoclear, rorder, hlen) = _FIXED.unpack_from(head)  # fmt: skip
    if version != 3:
        raise ImageError(f"Unsupported qcow2 version {version}")
    hdr = Header(size, None, None, cbits, l1_size, l1_off, rt_off, rt_clusters, nb_snap, snap_off, incompat,
                 compat, autoclear, rorder)  # fmt: skip
    pos = hlen
    while pos + 8 <= len(head):
        etype, elen = struct.unpack_from(">II", head, pos)
        pos += 8
        if etype == EXT_END:
            break
        data = head[pos : pos + elen]
        pos += (elen + 7) & ~7
        if etype == EXT_BACKING_FORMAT:
            hdr.backing_format = data.decode()
        elif etype != EXT_FEATURE_TABLE:
            hdr.extra.append((etype, data))
    if bf_off and bf_size:
        hdr.backing_file = head[bf_off : bf_off + bf_size].decode()
    return hdr


def _ext(etype: int, data: bytes) -> bytes:
    pad = (-len(data)) % 8
    return struct.pack(">II", etype, len(data)) + data + b"\0" * pad


def _header_cluster(hdr: Header) -> bytes:
    exts = b""
    if hdr.backing_format:
        exts += _ext(EXT_BACKING_FORMAT, hdr.backing_format.encode())
    for etype, data in hdr.extra:
        exts += _ext(etype, data)
    exts += _ext(EXT_FEATURE_TABLE, b"".join(struct.pack(">BB46s", t, b, n) for t, b, n in FEATURES))
    exts += struct.pack(">II", EXT_END, 0)
    backing = (hdr.backing_file or "").encode()
    bf_off = HEADER_LENGTH + len(exts) if backing else 0
    fixed = _FIXED.pack(MAGIC, 3, bf_off, len(backing), hdr.cluster_bits, hdr.size, 0, hdr.l1_size,
                        hdr.l1_table_offset, hdr.refcount_table_offset, hdr.refcount_table_clusters,
                        hdr.nb_snapshots, hdr.snapshots_offset, hdr.incompatible, hdr.compatible, hdr.autoclear,
                        hdr.refcount_order, HEADER_LENGTH)  # fmt: skip
    out = fixed + b"\0" * 8 + exts + backing  # compression type zlib (0) and its padding
    if len(out) > CLUSTER:
        raise ImageError("Backing file name too long")
    return out


def create(path: str, size: int, backing_file: str | None = None, backing_format: str | None = None) -> None:
    """Write an empty qcow2 image of ``size`` bytes (what ``qemu-img create -f qcow2`` writes)."""
    entries_per_l1 = CLUSTER * (CLUSTER // 8)
    l1_size = max(1, -(-size // entries_per_l1)) if size else 0
    l1_clusters = max(1, -(-(l1_size * 8) // CLUSTER))
    hdr = Header(size, backing_file, backing_format if backing_file else None, l1_size=l1_size)
    used = 3 + l1_clusters
    refcounts = struct.pack(f">{used}H", *([1] * used))
    # every byte written, as qemu-img does: the file's allocation is what QEMU reports as actual-size
    data = b"".join(
        (
            _pad(_header_cluster(hdr)),
            _pad(struct.pack(">Q", 2 * CLUSTER)),  # refcount table: one block, in cluster 2
            _pad(refcounts),
            b"\0" * max(8, l1_size * 8),
        )
    )
    with open(path, "wb") as f:
        f.write(data)


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (CLUSTER - len(data))


def set_backing(path: str, backing_file: str | None, backing_format: str | None) -> None:
    """Rewrite the image's backing file pointer (what stream and commit leave behind)."""
    hdr = read_header(path)
    hdr.backing_file = backing_file
    hdr.backing_format = backing_format if backing_file else None
    fd = os.open(path, os.O_WRONLY)
    try:
        write_header(fd, hdr)
    finally:
        os.close(fd)


def write_header(fd: int, hdr: Header) -> None:
    """Rewrite the header cluster of the image open as ``fd`` from ``hdr``."""
    data = _header_cluster(hdr)
    os.pwrite(fd, data + b"\0" * (CLUSTER - len(data)), 0)


def allocated_clusters(path: str) -> set[int]:
    """Indexes (in units of the cluster size) of the guest clusters this image itself holds data for."""
    hdr = read_header(path)
    cs = hdr.cluster_size
    per_l2 = cs // 8
    out: set[int] = set()
    with open(path, "rb") as f:
        f.seek(hdr.l1_table_offset)
        l1 = struct.unpack(f">{hdr.l1_size}Q", f.read(8 * hdr.l1_size))
        for i, entry in enumerate(l1):
            l2_off = entry & 0x00FFFFFFFFFFFE00
            if not l2_off:
                continue
            f.seek(l2_off)
            l2 = struct.unpack(f">{per_l2}Q", f.read(cs))
            out.update(i * per_l2 + j for j, e in enumerate(l2) if e & 0x00FFFFFFFFFFFE00 or e & 1)
    return out


def resize(path: str, size: int) -> None:
    """qcow2_co_truncate on an image without data past the new end: the new virtual size in the header;
    a larger L1 table where the size needs one (grown in place, in the L1 table's own clusters, as long as
    they hold it), the entries past a smaller one dropped."""
    hdr = read_header(path)
    per_l1 = hdr.cluster_size * (hdr.cluster_size // 8)
    l1_size = -(-size // per_l1)
    fd = os.open(path, os.O_RDWR)
    try:
        if l1_size > hdr.l1_size:
            room = -(-(hdr.l1_size * 8) // hdr.cluster_size) * hdr.cluster_size // 8
            if l1_size > max(room, hdr.cluster_size // 8):
                raise ImageError("the L1 table would have to move")
            end = hdr.l1_table_offset + 8 * l1_size
            if os.fstat(fd).st_size < end:
                os.pwrite(fd, b"\0" * (8 * (l1_size - hdr.l1_size)), hdr.l1_table_offset + 8 * hdr.l1_size)
            hdr.l1_size = l1_size
        hdr.size = size
        write_header(fd, hdr)
    finally:
        os.close(fd)
