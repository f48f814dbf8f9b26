"""qcow2 internal snapshots (what ``savevm``/``loadvm``/``delvm`` and the snapshot-* jobs do to an image):
the snapshot table, the copied L1 tables, the refcounts and the VM state stored past the end of the disk.

The layout is docs/interop/qcow2.txt's: a snapshot is a table entry (L1 table offset and size, id, name,
date, VM clock, VM state size, and 24 bytes of extra data: the VM state size again, the disk size and the
icount, -1 without record/replay) and a copy of the active L1 table whose clusters each get one more
reference. The VM state is guest data at ``vm_state_offset`` (the first L1 entry past the disk), reachable
only from the snapshot's L1 table. The OFLAG_COPIED bits of the active tables follow the refcounts, so
``qemu-img check`` finds the image clean and ``qemu-img snapshot -l`` lists what fakeqemu saved.
Only the 16-bit refcounts qemu-img creates by default are handled; compressed clusters are refused.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from fakeqemu.machine.block import qcow2
from fakeqemu.machine.block.qcow2 import ImageError

OFFSET_MASK = 0x00FFFFFFFFFFFE00
COPIED = 1 << 63
COMPRESSED = 1 << 62
#: Image.locate's answer for a cluster that reads as zeroes
ZERO = -1
_ENTRY = struct.Struct(">QIHHIIQII")
_EXTRA = struct.Struct(">QQq")


@dataclass
class Snapshot:
    """QEMUSnapshotInfo as a qcow2 snapshot table entry holds it."""

    id: str
    name: str
    date_sec: int
    date_nsec: int
    vm_clock_nsec: int
    vm_state_size: int
    disk_size: int = 0
    icount: int = -1
    l1_offset: int = 0
    l1_size: int = 0

    def info(self) -> dict[str, object]:
        """SnapshotInfo, in QAPI member order."""
        out: dict[str, object] = {
            "id": self.id,
            "name": self.name,
            "vm-state-size": self.vm_state_size,
            "date-sec": self.date_sec,
            "date-nsec": self.date_nsec,
            "vm-clock-sec": self.vm_clock_nsec // 1_000_000_000,
            "vm-clock-nsec": self.vm_clock_nsec % 1_000_000_000,
        }
        if self.icount != -1:
            out["icount"] = self.icount
        return out


def _read_table(f: int, hdr: qcow2.Header) -> tuple[list[Snapshot], int]:
    """The snapshot table's entries and its size in bytes."""
    out: list[Snapshot] = []
    pos = hdr.snapshots_offset
    for _ in range(hdr.nb_snapshots):
        head = os.pread(f, _ENTRY.size, pos)
        if len(head) < _ENTRY.size:
            raise ImageError("Snapshot table is truncated")
        l1_off, l1_size, id_len, name_len, dsec, dnsec, clock, vm_size, extra_len = _ENTRY.unpack(head)
        rest = os.pread(f, extra_len + id_len + name_len, pos + _ENTRY.size)
        disk_size, icount = 0, -1
        if extra_len >= 8:
            vm_size = struct.unpack_from(">Q", rest)[0]
        if extra_len >= 16:
            disk_size = struct.unpack_from(">Q", rest, 8)[0]
        if extra_len >= 24:
            icount = struct.unpack_from(">q", rest, 16)[0]
        sid = rest[extra_len : extra_len + id_len].decode(errors="replace")
        name = rest[extra_len + id_len :].decode(errors="replace")
        out.append(Snapshot(sid, name, dsec, dnsec, clock, vm_size, disk_size, icount, l1_off, l1_size))
        pos += (_ENTRY.size + extra_len + id_len + name_len + 7) & ~7
    return out, pos - hdr.snapshots_offset


def _entry_bytes(sn: Snapshot) -> bytes:
    sid, name = sn.id.encode(), sn.name.encode()
    data = _ENTRY.pack(sn.l1_offset, sn.l1_size, len(sid), len(name), sn.date_sec, sn.date_nsec,
                       sn.vm_clock_nsec, min(sn.vm_state_size, 0xFFFFFFFF), _EXTRA.size)  # fmt: skip
    data += _EXTRA.pack(sn.vm_state_size, sn.disk_size, sn.icount) + sid + name
    return data + b"\0" * ((-len(data)) % 8)


def list_snapshots(path: str) -> list[Snapshot]:
    """The image's snapshots, in table order (bdrv_snapshot_list); none for what is not qcow2."""
    try:
        hdr = qcow2.read_header(path)
        if not hdr.nb_snapshots:
            return []
        f = os.open(path, os.O_RDONLY)
    except (OSError, ImageError):
        return []
    try:
        return _read_table(f, hdr)[0]
    except (ImageError, UnicodeError, struct.error):
        return []
    finally:
        os.close(f)


def find(snapshots: list[Snapshot], name: str) -> Snapshot | None:
    """bdrv_snapshot_find: by name."""
    return next((s for s in snapshots if s.name == name), None)


def find_id_or_name(snapshots: list[Snapshot], name: str) -> Snapshot | None:
    """qcow2's find_snapshot_by_id_or_name: an id first, then a name."""
    return next((s for s in snapshots if s.id == name), None) or find(snapshots, name)


class Image:
    """An image's metadata, changed in memory and written back by ``close``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.hdr = qcow2.read_header(path)
        if self.hdr.refcount_order != 4:
            raise ImageError("Only 16-bit refcounts are supported")
        self.cs = self.hdr.cluster_size
        self.l2_entries = self.cs // 8
        self.per_block = self.cs // 2
        self.f = os.open(path, os.O_RDWR)
        try:
            rt = os.pread(self.f, self.hdr.refcount_table_clusters * self.cs, self.hdr.refcount_table_offset)
            self.rtable = list(struct.unpack(f">{len(rt) // 8}Q", rt))
            self.refcounts: list[int] = []
            for i, off in enumerate(self.rtable):
                if off:
                    self._cover((i + 1) * self.per_block)
                    blk = os.pread(self.f, self.cs, off & OFFSET_MASK).ljust(self.cs, b"\0")
                    self.refcounts[i * self.per_block : (i + 1) * self.per_block] = struct.unpack(
                        f">{self.per_block}H", blk
                    )
            self._l2s: dict[int, list[int]] = {}
            #: L2 tables changed in the cache, not yet written
            self._dirty: set[int] = set()
            #: no free cluster below this index (first-fit allocation starts here)
            self.free_hint = 1
            self.l1 = self._read_l1(self.hdr.l1_table_offset, self.hdr.l1_size)
            self.snapshots, self.table_bytes = _read_table(self.f, self.hdr)
        except BaseException:
            os.close(self.f)
            raise

    # --- clusters ---------------------------------------------------------------------------------

    def _cover(self, n: int) -> None:
        if len(self.refcounts) < n:
            self.refcounts.extend([0] * (n - len(self.refcounts)))

    def ref(self, offset: int, delta: int) -> None:
        i = offset // self.cs
        self._cover(i + 1)
        value = self.refcounts[i] + delta
        if not 0 <= value <= 0xFFFF:
            raise ImageError(f"Refcount of cluster {i} out of range")
        self.refcounts[i] = value
        if not value:
            self.free_hint = min(self.free_hint, i)

    def refcount(self, offset: int) -> int:
        i = offset // self.cs
        return self.refcounts[i] if i < len(self.refcounts) else 0

    def alloc(self, n: int) -> int:
        """First fit of ``n`` free clusters (cluster 0 is the header), with their refcount block."""
        start = max(1, self.free_hint)
        while True:
            self._cover(start + n)
            for blk in range(start // self.per_block, (start + n - 1) // self.per_block + 1):
                self._refblock(blk)
            run = next((k for k in range(n) if self.refcounts[start + k]), None)
            if run is None:
                break
            start += run + 1
        for k in range(n):
            self.refcounts[start + k] = 1
        if n == 1 or start == self.free_hint:  # nothing free before it (a first fit of one cluster)
            self.free_hint = start + n
        return start * self.cs

    def _refblock(self, blk: int) -> None:
        """A refcount block for block index ``blk``: in the first cluster of the range it covers."""
        if blk >= len(self.rtable):
            raise ImageError("Refcount table is full")
        if self.rtable[blk]:
            return
        first = blk * self.per_block
        self._cover(first + self.per_block)
        if self.refcounts[first]:
            raise ImageError("No room for a refcount block")
        self.refcounts[first] = 1
        self.rtable[blk] = first * self.cs

    def free(self, offset: int, size: int) -> None:
        for k in range(-(-size // self.cs)):
            self.ref(offset + k * self.cs, -1)

    # --- tables -----------------------------------------------------------------------------------

    def _read_l1(self, offset: int, size: int) -> list[int]:
        if not size:
            return []
        return list(struct.unpack(f">{size}Q", os.pread(self.f, size * 8, offset).ljust(size * 8, b"\0")))

    def _l2(self, offset: int) -> list[int]:
        table = self._l2s.get(offset)
        if table is None:
            raw = os.pread(self.f, self.cs, offset).ljust(self.cs, b"\0")
            table = self._l2s[offset] = list(struct.unpack(f">{self.l2_entries}Q", raw))
        return list(table)

    def _write_table(self, offset: int, entries: list[int]) -> None:
        self._l2s.pop(offset, None)
        self._dirty.discard(offset)
        os.pwrite(self.f, struct.pack(f">{len(entries)}Q", *entries), offset)

    # --- guest data (what block jobs copy) ---------------------------------------------------------

    def locate(self, index: int) -> int | None:
        """Where guest cluster ``index``'s data is in this file: its offset, ZERO for a cluster that reads
        as zeroes, None where this image holds nothing (its backing shows)."""
        li, l2i = divmod(index, self.l2_entries)
        l2_off = self.l1[li] & OFFSET_MASK if li < len(self.l1) else 0
        if not l2_off:
            return None
        entry = self._l2s[l2_off][l2i] if l2_off in self._l2s else self._l2(l2_off)[l2i]
        if entry & COMPRESSED:
            raise ImageError("Compressed clusters are not supported")
        if entry & OFFSET_MASK:
            return entry & OFFSET_MASK
        return ZERO if entry & 1 else None

    def holds(self, index: int) -> bool:
        return self.locate(index) is not None

    @property
    def backed(self) -> bool:
        """Does a cluster this image does not hold read as something other than zeroes?"""
        return bool(self.hdr.backing_file)

    def read_cluster(self, index: int) -> bytes | None:
        """Guest cluster ``index`` as this image holds it; None where it holds nothing (its backing shows)."""
        off = self.locate(index)
        if off is None or off == ZERO:
            return None if off is None else bytes(self.cs)
        return os.pread(self.f, self.cs, off).ljust(self.cs, b"\0")

    def write_cluster(self, index: int, data: bytes) -> None:
        """Write guest cluster ``index``: in place where the image alone owns it, else copied on write
        (a new L2 table where a snapshot shares it, a new data cluster)."""
        os.pwrite(self.f, data.ljust(self.cs, b"\0"), self.place([index])[0])
        self.flush_tables()

    def place(self, indexes: list[int]) -> list[int]:
        """The offsets guest clusters ``indexes`` are to be written at: in place where the image alone owns
        the cluster, else newly allocated (one contiguous run for all of them, after the L2 tables they
        need), with the L2 entries changed in memory until ``flush_tables``."""
        tables = {li: self._own_l2(li) for li in sorted({i // self.l2_entries for i in indexes})}
        out = [0] * len(indexes)
        fresh: list[int] = []
        for k, index in enumerate(indexes):
            li, l2i = divmod(index, self.l2_entries)
            off = self._l2s[tables[li]][l2i] & OFFSET_MASK
            if off and self.refcount(off) == 1:
                out[k] = off
                continue
            if off:
                self.ref(off, -1)
            fresh.append(k)
        if fresh:
            base = self.alloc(len(fresh))
            for j, k in enumerate(fresh):
                out[k] = base + j * self.cs
        for k, index in enumerate(indexes):
            li, l2i = divmod(index, self.l2_entries)
            self._l2s[tables[li]][l2i] = out[k] | COPIED
        self._dirty.update(tables.values())
        return out

    def _own_l2(self, li: int) -> int:
        """The L2 table of L1 entry ``li``, this image's own: made where there is none, copied where a
        snapshot shares it (the clusters it maps keep their counts: a count is one per L1 table that
        reaches the cluster); in the cache."""
        if li >= len(self.l1):
            raise ImageError("Cluster beyond the image's L1 table")
        l2_off = self.l1[li] & OFFSET_MASK
        if not l2_off:
            l2_off = self._write_new(bytes(self.cs))
            self._l2s[l2_off] = [0] * self.l2_entries
        elif self.refcount(l2_off) > 1:
            table = self._l2(l2_off)
            self.ref(l2_off, -1)
            l2_off = self._write_new(bytes(self.cs))
            self._write_table(l2_off, [self._copied(e) for e in table])
        self.l1[li] = l2_off | COPIED
        self._l2(l2_off)  # in the cache
        return l2_off

    def flush_tables(self) -> None:
        """Write the L2 tables ``place`` changed."""
        dirty, self._dirty = self._dirty, set()
        for off in sorted(dirty):
            os.pwrite(self.f, struct.pack(f">{self.l2_entries}Q", *self._l2s[off]), off)

    def _write_new(self, data: bytes) -> int:
        off = self.alloc(max(1, -(-len(data) // self.cs)))
        os.pwrite(self.f, data + b"\0" * ((-len(data)) % self.cs), off)
        return off

    def update_refs(self, l1: list[int], delta: int) -> None:
        """qcow2_update_snapshot_refcount's counting: each L2 table and each cluster it maps."""
        for entry in l1:
            l2_off = entry & OFFSET_MASK
            if not l2_off:
                continue
            for e in self._l2(l2_off):
                if e & COMPRESSED:
                    raise ImageError("Compressed clusters are not supported")
                if e & OFFSET_MASK:
                    self.ref(e & OFFSET_MASK, delta)
            self.ref(l2_off, delta)

    def _copied(self, entry: int) -> int:
        off = entry & OFFSET_MASK
        if not off:
            return entry
        return (entry | COPIED) if self.refcount(off) == 1 else (entry & ~COPIED)

    def fix_copied(self) -> None:
        """OFLAG_COPIED on the active tables exactly where the cluster's refcount is 1."""
        for i, entry in enumerate(self.l1):
            l2_off = entry & OFFSET_MASK
            if not l2_off:
                continue
            l2 = self._l2(l2_off)
            fixed = [self._copied(e) for e in l2]
            if fixed != l2:
                self._write_table(l2_off, fixed)
            self.l1[i] = self._copied(entry)

    def vm_state_index(self) -> int:
        """size_to_l1: the first L1 entry past the disk."""
        return -(-self.hdr.size // (self.cs * self.l2_entries))

    # --- snapshots --------------------------------------------------------------------------------

    def _write_snapshot_table(self) -> None:
        old_off, old_bytes = self.hdr.snapshots_offset, self.table_bytes
        data = b"".join(_entry_bytes(s) for s in self.snapshots)
        self.hdr.snapshots_offset = self._write_new(data) if data else 0
        self.hdr.nb_snapshots = len(self.snapshots)
        self.table_bytes = len(data)
        if old_off and old_bytes:
            self.free(old_off, old_bytes)

    def create(self, sn: Snapshot, vmstate: bytes) -> Snapshot:
        """qcow2_snapshot_create, with the VM state written first (qcow2_save_vmstate)."""
        index = self.vm_state_index()
        l1 = (self.l1 + [0] * index)[:index]
        self.update_refs(l1, 1)
        clusters = -(-len(vmstate) // self.cs)
        entries: list[int] = []
        for k in range(clusters):
            entries.append(self._write_new(vmstate[k * self.cs : (k + 1) * self.cs]) | COPIED)
        for k in range(0, clusters, self.l2_entries):
            table = entries[k : k + self.l2_entries]
            l1.append(self._write_new(struct.pack(f">{len(table)}Q", *table)) | COPIED)
        sn.id = str(max((int(s.id) for s in self.snapshots if s.id.isdigit()), default=0) + 1)
        sn.disk_size = self.hdr.size
        sn.vm_state_size = len(vmstate)
        sn.l1_size = len(l1)
        sn.l1_offset = self._write_new(struct.pack(f">{len(l1)}Q", *l1))
        self.snapshots.append(sn)
        self._write_snapshot_table()
        self.fix_copied()
        return sn

    def goto(self, sn: Snapshot) -> None:
        """qcow2_snapshot_goto: the active L1 table becomes a copy of the snapshot's."""
        new = self._read_l1(sn.l1_offset, sn.l1_size)
        size = max(len(new), self.hdr.l1_size)
        new += [0] * (size - len(new))
        self.update_refs(new, 1)
        self.update_refs(self.l1, -1)
        if -(-size * 8 // self.cs) > -(-self.hdr.l1_size * 8 // self.cs):
            old_off, old_size = self.hdr.l1_table_offset, self.hdr.l1_size
            self.hdr.l1_table_offset = self.alloc(-(-size * 8 // self.cs))
            self.free(old_off, old_size * 8)
        self.l1 = [e & ~COPIED for e in new]
        self.hdr.l1_size = size
        self.fix_copied()

    def delete(self, sn: Snapshot) -> None:
        """qcow2_snapshot_delete"""
        self.snapshots.remove(sn)
        self._write_snapshot_table()
        self.update_refs(self._read_l1(sn.l1_offset, sn.l1_size), -1)
        self.free(sn.l1_offset, sn.l1_size * 8)
        self.fix_copied()

    def read_vmstate(self, sn: Snapshot) -> bytes:
        """qcow2_load_vmstate: the snapshot's VM state, from its own L1 table."""
        l1 = self._read_l1(sn.l1_offset, sn.l1_size)
        out = bytearray()
        index, k = self.vm_state_index(), 0
        while len(out) < sn.vm_state_size:
            li, l2i = index + k // self.l2_entries, k % self.l2_entries
            l2_off = l1[li] & OFFSET_MASK if li < len(l1) else 0
            data_off = self._l2(l2_off)[l2i] & OFFSET_MASK if l2_off else 0
            out += os.pread(self.f, self.cs, data_off).ljust(self.cs, b"\0") if data_off else bytes(self.cs)
            k += 1
        return bytes(out[: sn.vm_state_size])

    # --- writing back -----------------------------------------------------------------------------

    def close(self, write: bool = True, sync: bool = True) -> None:
        """Write the metadata back (and, with ``sync``, to the disk: a snapshot; a copy's data needs not)."""
        try:
            if write:
                self.flush_tables()
                self._write_table(self.hdr.l1_table_offset, self.l1)
                for blk, off in enumerate(self.rtable):
                    if off:
                        counts = self.refcounts[blk * self.per_block : (blk + 1) * self.per_block]
                        counts += [0] * (self.per_block - len(counts))
                        os.pwrite(self.f, struct.pack(f">{self.per_block}H", *counts), off)
                self._write_table(self.hdr.refcount_table_offset, self.rtable)
                qcow2.write_header(self.f, self.hdr)
                if sync:
                    os.fsync(self.f)
        finally:
            os.close(self.f)
