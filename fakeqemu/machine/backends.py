"""Host-side backends that devices name: netdevs (netdev_add) and block nodes (blockdev-add).

fakeqemu never moves a packet or reads a byte of a disk; it keeps what a management tool defined, so that
devices can name them, QEMU's errors for missing or busy backends hold, and queries list them.
"""

from __future__ import annotations

from typing import Any


class Backends:
    __slots__ = ("blockdevs", "netdevs")

    def __init__(self) -> None:
        #: id -> {"options": the netdev_add arguments, "attached": the device using it or None}
        self.netdevs: dict[str, dict[str, Any]] = {}
        #: node-name -> {"options": the blockdev-add arguments, "attached": ...}
        self.blockdevs: dict[str, dict[str, Any]] = {}

    def release(self, dev: object) -> None:
        """A finalized device lets go of its backends (they stay defined, as in QEMU)."""
        for table in (self.netdevs, self.blockdevs):
            for entry in table.values():
                if entry.get("attached") is dev:
                    entry["attached"] = None

    def reset(self) -> None:
        self.netdevs.clear()
        self.blockdevs.clear()
