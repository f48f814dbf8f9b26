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

import functools
from typing import TYPE_CHECKING, Any

from fakeqemu.machine.core.qdev import Device
from fakeqemu.machine.core.qom import Obj
from fakeqemu.qmp.errors import DeviceNotActive as DeviceNotActive  # re-exported: its old home
from fakeqemu.qmp.errors import GenericError

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
#: a stat the guest has not reported (QEMU's -1 as a uint64)
NO_STAT = (1 << 64) - 1
#: where the guest's memory goes, as fractions of what it has (Linux's virtio_balloon reports these)
_FREE, _AVAILABLE, _CACHES = 0.6, 0.75, 0.1


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
        #: wall-clock second of the guest's last stats report (0: none yet)
        self.last_update = 0
        self.minor_faults = 0
        for obj in (device, device.children.get("virtio-backend")):
            if obj is not None:
                obj.set_own("guest-stats", functools.partial(self.guest_stats, obj))
                obj.set_own("guest-stats-polling-interval", lambda: self.stats_interval)

    def set_stats_interval(self, value: int) -> None:
        """qom-set guest-stats-polling-interval: the guest's driver reports every ``value`` seconds."""
        if value < 0:
            raise GenericError("timer value must be greater than zero")
        self.stats_interval = value
        if value > 0:
            self.machine.timers.call_later(GUEST_RESPONSE_S, self._guest_reports)

    def _guest_reports(self) -> None:
        if not self.stats_interval or self.machine.balloon is not self:
            return
        if self.policy != "ignore" and self.machine.running:
            self.last_update = int(self.machine.clock())
            self.minor_faults += 1
        self.machine.timers.call_later(float(self.stats_interval), self._guest_reports)

    def guest_stats(self, obj: Obj) -> dict[str, Any]:
        """qom-get guest-stats: what the guest reported last (every stat -1 until it has), in QEMU's order."""
        recorded: dict[str, Any] = obj.values["guest-stats"]
        total = self.actual
        values = {
            "stat-swap-in": 0, "stat-swap-out": 0, "stat-major-faults": 0, "stat-minor-faults": self.minor_faults,
            "stat-free-memory": int(total * _FREE), "stat-total-memory": total,
            "stat-available-memory": int(total * _AVAILABLE), "stat-disk-caches": int(total * _CACHES),
            "stat-htlb-pgalloc": 0, "stat-htlb-pgfail": 0,
        }  # fmt: skip
        # QEMU adds them in its balloon_stat_names order (the keys of ``values``): that order decides the
        # order of keys sharing a QDict bucket
        stats = {k: (v if self.last_update else NO_STAT) for k, v in values.items() if k in recorded["stats"]}
        return {"stats": stats, "last-update": self.last_update}

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
    if machine.config.balloon is not None:
        return machine.config.balloon
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


def qom_set(machine: Machine, obj: Obj, name: str, value: Any) -> bool:
    """The balloon's properties that can be set while it runs (QEMU's guest-stats-polling-interval);
    True when ``name`` was one of them."""
    if obj.type not in (*BALLOON_TYPES, "virtio-balloon-device"):
        return False
    if name == "guest-stats":
        raise GenericError("Property 'virtio-balloon-device.guest-stats' is not writable")
    if name != "guest-stats-polling-interval":
        return False
    if isinstance(value, bool) or not isinstance(value, int):
        raise GenericError(f"Invalid parameter type for '{name}', expected: integer")
    find_balloon(machine).set_stats_interval(value)
    return True
