"""The guest's balloon driver: it follows the target libvirt sets (BALLOON_CHANGE), ignores it (no driver, as
QEMU with no guest and fakeqemu under qtest), or goes half way; and it reports memory stats once asked to poll."""

from __future__ import annotations

import pytest

from fakeqemu.machine.core.events import Event
from fakeqemu.machine.devices.balloon import NO_STAT, DeviceNotActive, find_balloon
from fakeqemu.machine.machine import Machine, MachineConfig


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def machine(policy: str | None = None) -> tuple[Machine, Clock]:
    clock = Clock()
    cfg = MachineConfig(machine_type="q35", memory_mb=256)
    cfg.devices = [{"driver": "virtio-balloon-pci", "id": "balloon0"}]
    m = Machine(cfg, clock=clock, monotonic=clock)
    m.balloon_policy = policy
    return m, clock


def settle(m: Machine, clock: Clock, seconds: float = 0.05) -> None:
    clock.now += seconds
    m.timers.run_due()


def watch(m: Machine) -> list[int]:
    """The ``actual`` of every BALLOON_CHANGE the machine sends from now on."""
    seen: list[int] = []

    def on_event(e: Event) -> None:
        if e.name == "BALLOON_CHANGE" and e.data is not None:
            seen.append(e.data["actual"])

    m.events.subscribe(on_event)
    return seen


def test_follow_inflates_to_the_target_and_deflates_back() -> None:
    m, clock = machine()
    changes = watch(m)
    b = find_balloon(m)
    assert b.actual == 256 << 20
    b.set_target(128 << 20)
    assert b.actual == 256 << 20  # the guest answers a little later
    settle(m, clock)
    assert b.actual == 128 << 20
    b.set_target(1 << 40)  # clamped to the RAM size
    settle(m, clock)
    assert b.actual == 256 << 20
    assert changes == [128 << 20, 256 << 20]


def test_ignore_and_partial() -> None:
    m, clock = machine("ignore")
    changes = watch(m)
    find_balloon(m).set_target(64 << 20)
    settle(m, clock)
    assert find_balloon(m).actual == 256 << 20 and changes == []
    m, clock = machine("partial")
    find_balloon(m).set_target(64 << 20)
    settle(m, clock)
    assert find_balloon(m).actual == 160 << 20


def test_a_paused_guest_does_not_move_the_balloon() -> None:
    m, clock = machine()
    m.stop()
    find_balloon(m).set_target(64 << 20)
    settle(m, clock)
    assert find_balloon(m).actual == 256 << 20


def test_stats_come_once_polling_is_on() -> None:
    m, clock = machine()
    b = find_balloon(m)
    dev = m.board.tree.must("/machine/peripheral/balloon0") if m.board else None
    assert dev is not None
    assert all(v == NO_STAT for v in dev.get("guest-stats")["stats"].values())
    b.set_stats_interval(5)
    settle(m, clock)
    stats = dev.get("guest-stats")
    assert stats["last-update"] == int(clock.now)
    assert stats["stats"]["stat-total-memory"] == 256 << 20
    assert dev.get("guest-stats-polling-interval") == 5
    first = stats["last-update"]
    settle(m, clock, 5.0)
    assert dev.get("guest-stats")["last-update"] == first + 5


def test_no_balloon_device() -> None:
    m = Machine(MachineConfig(machine_type="pc"))
    with pytest.raises(DeviceNotActive):
        find_balloon(m)
