"""virtio-balloon: the target the host sets (``balloon``), what the guest gives back (``query-balloon``'s
``actual``), BALLOON_CHANGE, and the guest's balloon driver.

QEMU clamps the target to the RAM size and reports ``actual`` as RAM less the pages the guest has put in
the balloon; with no guest (or a guest without the driver) ``actual`` never moves. The guest model's
driver follows a policy, per VM and changeable while it runs:

- ``follow``: inflates or deflates to the target shortly after it is set (Linux's virtio_balloon)
- ``ignore``: never moves (no driver, a hung guest: what QEMU shows with no guest OS)
- ``partial``: moves half way to the target (a guest that cannot free all the memory asked for)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakeqemu.machine.core.qdev import Device
from fakeqemu.qmp.errors import QMPError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

POLICIES = ("follow", "ignore", "partial")
#: how long the guest's driver takes to answer a new target
GUEST_RESPONSE_S = 0.01
#: QEMU's balloon page size
PAGE = 4096
BALLOON_TYPES = frozenset(
    {"virtio-balloon-pci", "virtio-balloon-pci-transitional", "virtio-balloon-pci-non-transitional"}
)


class DeviceNotActive(QMPError):
    cls = "DeviceNotActive"


class Balloon:
    """One VM's balloon (QEMU allows one balloon handler): the device it belongs to, target and actual."""

    def __init__(self, machine: Machine, device: Device, policy: str) -> None:
        self.machine = machine
        self.device = device
        self.ram = machine.config.memory_mb << 20
        self.actual = self.ram
        self.target = self.ram
        self.policy = policy
        #: guest-stats-polling-interval (seconds; 0: the guest sends no stats)
        self.stats_interval = 0

    def set_target(self, value: int) -> None:
        """qmp_balloon: the target in bytes, clamped to the RAM size; the guest driver reacts later."""
        self.target = min(value, self.ram)
        self.machine.timers.call_later(GUEST_RESPONSE_S, self._guest_responds)

    def _guest_responds(self) -> None:
        if self.policy == "ignore" or not self.machine.running or self.machine.balloon is not self:
            return
        goal = self.target if self.policy == "follow" else self.actual + (self.target - self.actual) // 2
        goal -= goal % PAGE
        if goal != self.actual:
            self.actual = goal
            self.machine.events.emit("BALLOON_CHANGE", {"actual": self.actual})


def default_policy(machine: Machine) -> str:
    """Like the hotplug guest's ``auto``: under qtest no guest runs (QEMU's answers), else it follows."""
    return "ignore" if machine.config.qtest else "follow"


def find_balloon(machine: Machine) -> Balloon:
    """The VM's balloon, or QEMU's DeviceNotActive error when no virtio-balloon device is plugged."""
    board = machine.board
    device = None
    if board is not None:
        for obj in (*board.peripheral.children.values(), *board.peripheral_anon.children.values()):
            if isinstance(obj, Device) and obj.type in BALLOON_TYPES:
                device = obj
                break
    if device is None:
        raise DeviceNotActive("No balloon device has been activated")
    balloon = machine.balloon
    if balloon is None or balloon.device is not device:
        balloon = machine.balloon = Balloon(machine, device, machine.balloon_policy or default_policy(machine))
    return balloon
