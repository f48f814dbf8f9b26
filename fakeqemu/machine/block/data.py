"""Guest data the block jobs move: clusters read from a node's image (qcow2 through its L1/L2 tables,
raw at their offset) and written into another node's image, so that after a mirror, backup, stream or
commit ``qemu-img compare`` finds the images as QEMU leaves them. The guest itself writes nothing, so
what a job copies while it runs is all there is to copy."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from fakeqemu.machine.block import graph, internal, qcow2

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine


class Raw:
    """A raw image: every cluster is its own."""

    def __init__(self, path: str) -> None:
        self.f = os.open(path, os.O_RDWR)
        self.cs = qcow2.CLUSTER

    def read_cluster(self, index: int) -> bytes | None:
        return os.pread(self.f, self.cs, index * self.cs).ljust(self.cs, b"\0")

    def write_cluster(self, index: int, data: bytes) -> None:
        os.pwrite(self.f, data, index * self.cs)

    def close(self, write: bool = True) -> None:
        os.close(self.f)


Image = internal.Image | Raw


class Copier:
    """Copies clusters from the chain ``sources`` (top first: the first that holds a cluster gives it)
    into ``target``; ``keep_target`` leaves the clusters the target holds itself (a stream)."""

    def __init__(self, m: Machine, sources: list[str], target: str, keep_target: bool = False) -> None:
        self.m, self.sources, self.target, self.keep_target = m, sources, target, keep_target
        self.images: dict[str, Image] = {}
        self.cs = qcow2.CLUSTER

    def _image(self, node: str) -> Image:
        if node not in self.images:
            path = str(graph.leaf_file(self.m, node).get("filename"))
            qc = graph.table(self.m)[node]["options"].get("driver") == "qcow2"
            self.images[node] = internal.Image(path) if qc else Raw(path)
        return self.images[node]

    def copy(self, clusters: list[int]) -> None:
        try:
            target = self._image(self.target)
            for c in clusters:
                if self.keep_target and target.read_cluster(c) is not None:
                    continue
                for node in self.sources:
                    data = self._image(node).read_cluster(c)
                    if data is not None:
                        target.write_cluster(c, data)
                        break
        except (OSError, qcow2.ImageError) as exc:
            self.m.jobs.note(f"block job copy into {self.target} failed: {exc}")

    def zero(self, clusters: list[int]) -> None:
        """Clusters the target holds but the source does not: written as zeroes (a zeroed target)."""
        try:
            target = self._image(self.target)
            for c in clusters:
                target.write_cluster(c, bytes(self.cs))
        except (OSError, qcow2.ImageError) as exc:
            self.m.jobs.note(f"block job zeroing {self.target} failed: {exc}")

    def close(self) -> None:
        images, self.images = self.images, {}
        for node, image in images.items():
            image.close(write=node == self.target)
