"""The guest's cdrom driver (Linux's sr driver with a desktop's automounter), a policy per VM
(``-fakeqemu cdrom=``):

- ``free`` (default): the guest never locks a tray, as QEMU without a guest OS: the tray moves at once.
- ``lock``: once the guest runs it mounts every medium in a closed tray and locks the tray (PREVENT ALLOW
  MEDIUM REMOVAL); an eject request (``eject`` or ``blockdev-open-tray`` without ``force``) gets QEMU's
  answer, then the guest unmounts, unlocks and opens the tray (DEVICE_TRAY_MOVED), as udev does on the
  drive's eject button. A medium in a tray closed again is mounted and locked again.
- ``hold``: it locks the trays and never lets go (a busy mount): only ``force`` opens them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakeqemu.machine.core.events import Event
from fakeqemu.machine.devices import storage

if TYPE_CHECKING:
    from fakeqemu.machine.devices.storage import BlockBackend
    from fakeqemu.machine.machine import Machine

POLICIES = ("free", "lock", "hold")


class CdromGuest:
    def __init__(self, machine: Machine, policy: str) -> None:
        self.machine = machine
        self.policy = policy
        self.booted = False
        machine.events.subscribe(self._on_event)
        if machine.running:
            self._boot()

    def _on_event(self, event: Event) -> None:
        if event.name == "RESUME" and not self.booted:
            self._boot()

    def _boot(self) -> None:
        self.booted = True
        for blk in self.machine.backends.blks:
            self.mount(blk)

    def mount(self, blk: BlockBackend) -> None:
        """A medium in a closed tray: the guest mounts it and locks the tray."""
        m = self.machine
        if self.booted and blk.removable and not blk.tray_open and storage.medium(m, blk.dev) is not None:
            blk.locked = True

    def eject_request(self, blk: BlockBackend) -> None:
        """The drive asks the guest to open a locked tray."""
        if self.policy == "lock":
            self.machine.timers.call_later(0, lambda: self._eject(blk))

    def _eject(self, blk: BlockBackend) -> None:
        if blk in self.machine.backends.blks and blk.locked:
            blk.locked = False
            storage.move_tray(self.machine, blk, True)
