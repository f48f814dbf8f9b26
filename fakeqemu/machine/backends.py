"""Host-side backends that devices name: netdevs (netdev_add) and block nodes (blockdev-add); and the
file descriptors a management tool passed to the VM (getfd, add-fd).

fakeqemu never moves a packet or reads a byte of a disk; it keeps what a management tool defined, so that
devices can name them, QEMU's errors for missing or busy backends hold, and queries list them. Passed fds
stay open (unread) until a command closes them or the VM's machine is closed (``close``: reset, exit).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any


def close_fd(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


@dataclass
class FdsetMember:
    fd: int
    opaque: str | None
    removed: bool = False


@dataclass
class FdTables:
    """One VM's passed fds."""

    #: monitor name -> fd name -> fd (QEMU keeps named fds per monitor)
    named: dict[str, dict[str, int]] = field(default_factory=dict)
    #: fdset id -> its fds, in the order they were added
    fdsets: dict[int, list[FdsetMember]] = field(default_factory=dict)

    def close(self) -> None:
        for table in self.named.values():
            for fd in table.values():
                close_fd(fd)
        for members in self.fdsets.values():
            for m in members:
                close_fd(m.fd)
        self.named.clear()
        self.fdsets.clear()


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
        self.close()
        self.netdevs.clear()
        self.blockdevs.clear()

    def close(self) -> None:
        """Close the fds the netdevs own (a tap's fd claimed from getfd)."""
        for entry in self.netdevs.values():
            for fd in entry.pop("fds", []):
                close_fd(fd)
