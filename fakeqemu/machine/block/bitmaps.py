"""Dirty bitmaps per node (block-dirty-bitmap-add/remove/clear/enable/disable/merge), as QEMU reports them.

fakeqemu writes no guest data, so a bitmap's count stays what clear and merge make it: 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fakeqemu.qmp.errors import GenericError

#: QEMU's default granularity for a node without a cluster size hint (64 KiB)
DEFAULT_GRANULARITY = 65536


@dataclass
class Bitmap:
    """A block dirty bitmap, as query-block shows it."""

    name: str
    granularity: int = DEFAULT_GRANULARITY
    persistent: bool = False
    recording: bool = True
    busy: bool = False
    count: int = 0

    def info(self) -> dict[str, Any]:
        """BlockDirtyInfo"""
        return {"name": self.name, "count": self.count, "granularity": self.granularity,
                "recording": self.recording, "busy": self.busy, "persistent": self.persistent}  # fmt: skip


class Bitmaps:
    """node name -> its bitmaps, newest first (QEMU prepends)."""

    __slots__ = ("nodes",)

    def __init__(self) -> None:
        self.nodes: dict[str, list[Bitmap]] = {}

    def get(self, node: str, name: str) -> Bitmap:
        for bm in self.nodes.get(node, []):
            if bm.name == name:
                return bm
        raise GenericError(f"Dirty bitmap '{name}' not found")

    def find(self, node: str, name: str) -> Bitmap | None:
        try:
            return self.get(node, name)
        except GenericError:
            return None

    def add(self, node: str, name: str, granularity: int | None, persistent: bool, disabled: bool) -> Bitmap:
        if granularity is not None and (granularity < 512 or granularity & (granularity - 1)):
            raise GenericError("Granularity must be power of 2 and at least 512")
        if self.find(node, name) is not None:
            raise GenericError(f"Bitmap already exists: {name}")
        bm = Bitmap(name, granularity or DEFAULT_GRANULARITY, persistent, not disabled)
        self.nodes.setdefault(node, []).insert(0, bm)
        return bm

    def remove(self, node: str, name: str) -> None:
        bm = self.get(node, name)
        if bm.busy:
            raise GenericError(f"Bitmap '{name}' is currently in use by another operation and cannot be used")
        self.nodes[node].remove(bm)

    def info(self, node: str) -> list[dict[str, Any]]:
        return [bm.info() for bm in self.nodes.get(node, [])]

    def rename_node(self, old: str, new: str) -> None:
        if old in self.nodes:
            self.nodes[new] = self.nodes.pop(old)
