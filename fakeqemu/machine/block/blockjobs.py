"""The block jobs: stream, commit (intermediate and active), mirror, backup and blockdev-create.

Each walks its range in QEMU's chunk size, sleeping where QEMU's rate limit makes it sleep, counting the
ranges that hold no data as done without cost (as QEMU's allocation checks do), and changes the graph
and the image headers when it finishes as QEMU does. The clusters that hold data are copied into the
target's image (fakeqemu.machine.block.data).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

from fakeqemu.machine.block import graph, qcow2
from fakeqemu.machine.block.data import Copier
from fakeqemu.machine.block.jobs import Body, Driver, Job, Wait
from fakeqemu.qmp.errors import GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

#: bytes a stream or commit job moves per iteration (STREAM_CHUNK, COMMIT_BUFFER_SIZE)
CHUNK = 512 * 1024


#: bytes a job without a rate or speed limit queues before it copies them (one trip to the worker thread)
BATCH = 64 << 20


def copy_chunk(job: Job, copier: Copier | None, n: int, clusters: list[int]) -> Generator[Wait, None, None]:
    """Move the chunk's clusters that hold data, and take the time ``n`` bytes take at the VM's job rate.
    A job at a rate or speed limit copies each chunk as it goes; a quick one queues them up to BATCH."""
    if copier is not None:
        copier.pending += clusters
        if job.jobs.rate or job.speed or len(copier.pending) * qcow2.CLUSTER >= BATCH:
            spent = yield from flush(job, copier)
            yield from job.io(n, spent)
            return
    yield from job.io(n)


def flush(job: Job, copier: Copier) -> Generator[Wait, None, float]:
    """Copy what ``copier`` has queued, off the loop's thread; the seconds it took."""
    clusters, copier.pending = copier.pending, []
    spent = (yield from job.run_io(lambda: copier.copy(clusters))) if clusters else 0.0
    _report(job, copier)
    return spent


def _report(job: Job, copier: Copier) -> None:
    errors, copier.errors = copier.errors, []
    for text in errors:
        job.jobs.note(text)


def close(job: Job, copier: Copier | None) -> None:
    if copier is not None:
        copier.close()
        _report(job, copier)


def copy_range(job: Job, size: int, has_data: set[int], operation: str = "read",
               copier: Copier | None = None) -> Body:  # fmt: skip
    """The loop of block/stream.c and block/commit.c: sleep for the rate, copy or skip, count progress."""
    try:
        ret = yield from _copy_range(job, size, has_data, operation, copier)
        if copier is not None and not ret and not job.is_cancelled:
            yield from flush(job, copier)
        return ret
    finally:
        close(job, copier)


def _copy_range(job: Job, size: int, has_data: set[int], operation: str, copier: Copier | None) -> Body:
    job.set_remaining(size)
    offset = 0
    delay = 0.0
    while offset < size:
        yield from job.sleep(delay)
        if job.is_cancelled:
            break
        n = min(CHUNK, size - offset)
        if (yield from job.io_error(offset, n, operation)):
            return job.ret
        first, last = offset // qcow2.CLUSTER, (offset + n - 1) // qcow2.CLUSTER
        clusters = [c for c in range(first, last + 1) if c in has_data]
        copy = bool(clusters)
        if copy:
            yield from copy_chunk(job, copier, n, clusters)
        job.progress(n)
        delay = job.ratelimit_delay(n) if copy else 0.0
        offset += n
    return 0


class Stream(Driver):
    """block-stream: pull the data of the nodes between ``top`` and ``base`` into ``top``."""

    job_type = "stream"

    def __init__(self, m: Machine, top: str, base: str | None, backing_file: str | None) -> None:
        self.m, self.top, self.base, self.backing_file = m, top, base, backing_file

    def below(self) -> list[str]:
        nodes = graph.chain(self.m, self.top)[1:]
        return nodes[: nodes.index(self.base)] if self.base in nodes else nodes

    def run(self, job: Job) -> Body:
        below = self.below()
        if not below:
            return 0
        data: set[int] = set()
        for n in below:
            data |= graph.allocated(self.m, n)
        copier = Copier(self.m, below, self.top, keep_target=True)
        return (yield from copy_range(job, graph.length(self.m, self.top), data, copier=copier))

    def prepare(self, job: Job) -> int:
        if self.below():
            graph.set_backing(self.m, self.top, self.base, self.backing_file)
        return 0


class Commit(Driver):
    """block-commit of an intermediate node: ``top``'s data goes into ``base``, its overlay backs onto
    ``base``."""

    job_type = "commit"

    def __init__(self, m: Machine, top: str, base: str, backing_file: str | None) -> None:
        self.m, self.top, self.base, self.backing_file = m, top, base, backing_file

    def run(self, job: Job) -> Body:
        data: set[int] = set()
        nodes = graph.chain(self.m, self.top)[: graph.chain(self.m, self.top).index(self.base)]
        for n in nodes:
            data |= graph.allocated(self.m, n)
        copier = Copier(self.m, nodes, self.base)
        return (yield from copy_range(job, graph.length(self.m, self.top), data, copier=copier))

    def prepare(self, job: Job) -> int:
        for overlay in graph.parents(self.m, self.top):
            if graph.backing_child(graph.table(self.m)[overlay]) == self.top:
                graph.set_backing(self.m, overlay, self.base, self.backing_file)
        return 0


class Mirror(Driver):
    """blockdev-mirror / drive-mirror, and the active commit (job type "commit") that is a mirror into a
    backing node: copies, turns ready, then waits for job-complete (pivot) or cancel."""

    job_type = "mirror"

    def __init__(self, m: Machine, source: str, target: str, sync: str, commit: bool = False,
                 zero_target: bool = True) -> None:  # fmt: skip
        self.m, self.source, self.target, self.sync = m, source, target, sync
        self.should_complete = False
        self.commit_into_base = commit
        #: a full mirror into a target not known to read as zeroes copies the whole disk (drive-mirror
        #: into a new image: only the data)
        self.zero_target = zero_target
        #: what the pivot does first (drive-mirror: the target takes its backing node)
        self.before_pivot: Callable[[], None] = lambda: None
        if commit:
            self.job_type = "commit"

    def run(self, job: Job) -> Body:
        data: set[int] = set()
        nodes: list[str] = []
        if self.sync != "none":
            nodes = graph.chain(self.m, self.source)
            if self.commit_into_base:
                nodes = nodes[: nodes.index(self.target)] if self.target in nodes else nodes
            elif self.sync == "top":
                nodes = nodes[:1]
            for node in nodes:
                data |= graph.allocated(self.m, node)
        size = graph.length(self.m, self.source)
        # the dirty bitmap mirror_dirty_init sets: the whole disk when the target is zeroed first, nothing
        # in sync "none", else what the layers above the base hold
        whole = self.zero_target and self.sync == "full" and not self.commit_into_base
        total = size if whole else 0 if self.sync == "none" else min(len(data) * qcow2.CLUSTER, size)
        job.set_remaining(total)
        copier = Copier(self.m, nodes, self.target) if self.sync != "none" else None
        try:
            ret = yield from self._copy(job, copier, size, data, total, whole)
            if ret is not None:
                return ret
            if copier is not None:
                yield from flush(job, copier)
                if whole and graph.header(self.m, self.target) is not None:  # the target reads as the source
                    extra = sorted(graph.allocated(self.m, self.target) - data)
                    if extra:
                        yield from job.run_io(lambda: copier.zero(extra))
        finally:
            close(job, copier)
        # copying, or asking the layers under the top which clusters they hold, waits for I/O
        below = self.sync == "top" and graph.backing_child(graph.table(self.m)[self.source]) is not None
        if total or below:
            yield from job.sleep(0)
            if job.is_cancelled:
                return 0
        job.transition_to_ready()
        while not (self.should_complete or job.cancelled):
            yield from job.wait()
            if job.is_cancelled:
                break
        return 0

    def _copy(self, job: Job, copier: Copier | None, size: int, data: set[int], total: int,
              whole: bool) -> Generator[Wait, None, int | None]:  # fmt: skip
        """The mirror's first pass over the disk; a return value ends the job with it."""
        offset = 0
        while offset < size and self.sync != "none":
            n = min(CHUNK, size - offset)
            if (yield from job.io_error(offset, n, "write")):
                return job.ret
            first, last = offset // qcow2.CLUSTER, (offset + n - 1) // qcow2.CLUSTER
            clusters = [c for c in range(first, last + 1) if c in data]
            dirty = len(clusters)
            if dirty:
                yield from copy_chunk(job, copier, n, clusters)
                delay = job.ratelimit_delay(n)
                if delay:
                    yield from job.sleep(delay)
                if job.is_cancelled:
                    return 0
            if whole:
                job.progress(n)
            elif dirty:
                job.progress(min(dirty * qcow2.CLUSTER, total - job.progress_current))
            offset += n
        return None

    def complete(self, job: Job) -> None:
        self.should_complete = True
        self.wake(job)

    def wake(self, job: Job) -> None:
        """The ready loop notices a complete or a cancel after the command's reply: it flushes the
        target first (a thread-pool request in QEMU)."""
        job.jobs.timers.call_later(0, job.enter)

    def cancel(self, job: Job, force: bool) -> bool:
        force = force or not job.is_ready
        if job.is_ready:
            self.wake(job)
        return force

    def enters_on_cancel(self, job: Job) -> bool:
        """A ready mirror, even force-cancelled, notices it only after the command's reply."""
        return not job.is_ready

    def prepare(self, job: Job) -> int:
        if self.should_complete and not job.is_cancelled:
            self.before_pivot()
            graph.replace(self.m, self.source, self.target)
        return 0


class Backup(Driver):
    """blockdev-backup / drive-backup: copy ``source`` (or what its bitmap marks) into ``target``."""

    job_type = "backup"

    def __init__(self, m: Machine, source: str, target: str, sync: str, bitmap: str | None) -> None:
        self.m, self.source, self.target, self.sync, self.bitmap = m, source, target, sync, bitmap

    def run(self, job: Job) -> Body:
        if self.sync == "none":
            # backup_run: nothing to copy but what the guest is about to overwrite, until cancelled
            job.set_remaining(graph.length(self.m, self.source))
            while not job.is_cancelled:
                yield from job.wait()
            return 0
        data: set[int] = set()
        nodes: list[str] = []
        if self.sync in ("full", "top"):
            nodes = graph.chain(self.m, self.source)
            nodes = nodes if self.sync == "full" else nodes[:1]
            for n in nodes:
                data |= graph.allocated(self.m, n)
        size = graph.length(self.m, self.source)
        if self.sync in ("incremental", "bitmap"):
            size = 0  # a bitmap of a VM that wrote nothing marks nothing
        copier = Copier(self.m, nodes, self.target) if nodes else None
        return (yield from copy_range(job, size, data, "write", copier))

    def clean(self, job: Job) -> None:
        if self.bitmap is not None:
            bm = self.m.bitmaps.find(self.source, self.bitmap)
            if bm is not None:  # the job's successor bitmap is merged back in: it heads the list again
                bm.busy = False
                self.m.bitmaps.nodes[self.source].remove(bm)
                self.m.bitmaps.nodes[self.source].insert(0, bm)


class Create(Driver):
    """blockdev-create: writes the image (file, raw or qcow2) on the node or file named."""

    job_type = "create"
    block = False

    def __init__(self, m: Machine, options: dict[str, object]) -> None:
        self.m, self.options = m, options

    def run(self, job: Job) -> Body:
        job.set_remaining(1)
        try:
            self.create()
        except OSError as exc:
            job.fail(-(exc.errno or errno.EIO), f"Could not create '{exc.filename}': {exc.strerror}")
        except qcow2.ImageError as exc:
            job.fail(-errno.EINVAL, str(exc))
        except GenericError as exc:  # the file node it names is not there
            job.fail(-errno.EINVAL, exc.desc)
        job.progress(1)
        if not job.ret:
            yield from job.sleep(0)  # the write went through QEMU's thread pool
        return job.ret

    def create(self) -> None:
        o = self.options
        driver = o["driver"]
        if driver == "file":
            path = str(o["filename"])
            with open(path, "wb") as f:
                f.truncate(int(o.get("size", 0)))  # type: ignore[call-overload]
            return
        node = graph.node_name(self.m, str(o["file"]))
        path = str(graph.leaf_file(self.m, node).get("filename"))
        size = int(o["size"])  # type: ignore[call-overload]
        if driver == "qcow2":
            backing = o.get("backing-file")
            fmt = o.get("backing-fmt")
            qcow2.create(path, size, str(backing) if backing else None, str(fmt) if fmt else None)
        else:  # raw
            with open(path, "r+b") as f:
                f.truncate(size)
        os.utime(path)
