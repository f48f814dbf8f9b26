"""Guest data the block jobs move: clusters found in a node's image (qcow2 through its L1/L2 tables,
raw at their offset, its holes reading as zeroes) and written into another node's image, so that after a
mirror, backup, stream or commit ``qemu-img compare`` finds the images as QEMU leaves them. The guest
itself writes nothing, so what a job copies while it runs is all there is to copy.

A copy is planned first (where each cluster comes from, where it goes: the target's new clusters in one
run), then moved by the kernel in runs as long as the two files allow (``os.copy_file_range``, large
``pread``/``pwrite`` where it cannot); clusters that read as zeroes are written only where the target
would not read as zeroes without them. A job runs its copies off the loop's thread (``Job.run_io``), so a
Copier is touched by one thread at a time and keeps the errors it meets for the job to report.
"""

from __future__ import annotations

import bisect
import errno
import os
from typing import TYPE_CHECKING

from fakeqemu.machine.block import graph, internal, qcow2
from fakeqemu.machine.block.internal import ZERO

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

#: bytes one read and write moves where the kernel cannot copy between the files itself
BOUNCE = 8 << 20


class Raw:
    """A raw image: every cluster is its own, at its offset; the file's holes read as zeroes."""

    def __init__(self, path: str) -> None:
        self.f = os.open(path, os.O_RDWR)
        self.cs = qcow2.CLUSTER
        self.size = os.fstat(self.f).st_size
        self.backed = False
        self._starts, self._ends = _data_extents(self.f, self.size)

    def locate(self, index: int) -> int | None:
        off = index * self.cs
        k = bisect.bisect_right(self._starts, off + self.cs - 1) - 1
        return off if k >= 0 and self._ends[k] > off else ZERO

    def holds(self, index: int) -> bool:
        return self.locate(index) != ZERO

    def place(self, indexes: list[int]) -> list[int]:
        return [i * self.cs for i in indexes]

    def flush_tables(self) -> None:
        pass

    def close(self, write: bool = True, sync: bool = True) -> None:
        os.close(self.f)


def _data_extents(f: int, size: int) -> tuple[list[int], list[int]]:
    """The file's data ranges (SEEK_DATA/SEEK_HOLE), as sorted starts and their ends; all of it where the
    file system cannot tell."""
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    try:
        while pos < size:
            try:
                start = os.lseek(f, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # no data past pos
                    break
                raise
            end = os.lseek(f, start, os.SEEK_HOLE)
            starts.append(start)
            ends.append(end)
            pos = end
    except OSError:
        return [0], [size]
    return starts, ends


Image = internal.Image | Raw


class Copier:
    """Copies clusters from the chain ``sources`` (top first: the first that holds a cluster gives it)
    into ``target``; ``keep_target`` leaves the clusters the target holds itself (a stream)."""

    def __init__(self, m: Machine, sources: list[str], target: str, keep_target: bool = False) -> None:
        self.sources, self.target, self.keep_target = sources, target, keep_target
        self.cs = qcow2.CLUSTER
        #: node -> (file name, qcow2?), read now: the copy runs in another thread
        self.files = {
            n: (str(graph.leaf_file(m, n).get("filename")), graph.table(m)[n]["options"].get("driver") == "qcow2")
            for n in {*sources, target}
        }
        self.images: dict[str, Image] = {}
        #: what went wrong, for the job to note (one line each)
        self.errors: list[str] = []
        #: clusters queued for the next copy (a quick job moves many chunks at once)
        self.pending: list[int] = []

    def _image(self, node: str) -> Image:
        if node not in self.images:
            path, qc = self.files[node]
            self.images[node] = internal.Image(path) if qc else Raw(path)
        return self.images[node]

    def copy(self, clusters: list[int]) -> None:
        try:
            self._copy(clusters)
        except (OSError, qcow2.ImageError) as exc:
            self.errors.append(f"block job copy into {self.target} failed: {exc}")

    def _copy(self, clusters: list[int]) -> None:
        target = self._image(self.target)
        sources = [self._image(n) for n in self.sources]
        moves: list[tuple[int, int, int]] = []  # (cluster, source fd, offset)
        zeroes: list[int] = []
        for c in clusters:
            if self.keep_target and target.holds(c):
                continue
            for image in sources:
                off = image.locate(c)
                if off is not None:
                    break
            else:
                continue
            if off != ZERO:
                moves.append((c, image.f, off))
            elif target.backed or target.holds(c):
                zeroes.append(c)
        places = target.place([c for c, _, _ in moves] + zeroes)
        runs = _runs([(fd, off, dst) for (_, fd, off), dst in zip(moves, places, strict=False)], self.cs)
        limit = target.size if isinstance(target, Raw) else None
        for fd, off, dst, n in runs:
            _move(fd, off, target.f, dst, n if limit is None else max(0, min(n, limit - dst)))
        for dst in places[len(moves) :]:
            _zero(target.f, dst, self.cs if limit is None else max(0, min(self.cs, limit - dst)))
        target.flush_tables()

    def zero(self, clusters: list[int]) -> None:
        """Clusters the target holds but the source does not: written as zeroes (a zeroed target)."""
        try:
            target = self._image(self.target)
            for dst in target.place(clusters):
                _zero(target.f, dst, self.cs)
            target.flush_tables()
        except (OSError, qcow2.ImageError) as exc:
            self.errors.append(f"block job zeroing {self.target} failed: {exc}")

    def close(self) -> None:
        images, self.images = self.images, {}
        for node, image in images.items():
            try:
                image.close(write=node == self.target, sync=False)
            except (OSError, qcow2.ImageError) as exc:
                self.errors.append(f"block job closing {node} failed: {exc}")


def _runs(moves: list[tuple[int, int, int]], cs: int) -> list[tuple[int, int, int, int]]:
    """Cluster moves (fd, source offset, target offset) joined where both sides are contiguous."""
    out: list[tuple[int, int, int, int]] = []
    for fd, off, dst in moves:
        if out:
            pfd, poff, pdst, n = out[-1]
            if pfd == fd and poff + n == off and pdst + n == dst:
                out[-1] = (pfd, poff, pdst, n + cs)
                continue
        out.append((fd, off, dst, cs))
    return out


def _move(src: int, off: int, dst: int, dst_off: int, n: int) -> None:
    """``n`` bytes from ``src`` at ``off`` to ``dst`` at ``dst_off``; past the source's end, zeroes."""
    end = off + n
    while off < end:
        try:
            done = os.copy_file_range(src, dst, end - off, off, dst_off)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF):
                raise
            done = _bounce(src, off, dst, dst_off, end - off)
        if not done:  # the source ends here
            _zero(dst, dst_off, end - off)
            return
        off += done
        dst_off += done


def _bounce(src: int, off: int, dst: int, dst_off: int, n: int) -> int:
    data = os.pread(src, min(n, BOUNCE), off)
    if data:
        os.pwrite(dst, data, dst_off)
    return len(data)


def _zero(f: int, off: int, n: int) -> None:
    while n > 0:
        k = min(n, BOUNCE)
        os.pwrite(f, bytes(k), off)
        off += k
        n -= k
