"""The VM state a migration carries, machine to machine (no stream, no process): the balloon, the guest
policy, a pending unplug that the destination's guest then completes, a graph change a job made."""

from __future__ import annotations

import json

import pytest

from fakeqemu.machine.devices.balloon import find_balloon
from fakeqemu.machine.machine import Machine, MachineConfig
from fakeqemu.machine.migration import vmstate
from fakeqemu.machine.plug import device_add, device_del


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pc(*devices: dict[str, str], guest: str = "auto") -> tuple[Machine, Clock]:
    clock = Clock()
    cfg = MachineConfig(machine_type="pc", guest=guest, devices=list(devices))
    return Machine(cfg, clock=clock, monotonic=clock), clock


BALLOON = {"driver": "virtio-balloon-pci", "id": "balloon0", "addr": "0x5"}
NIC = {"driver": "virtio-net-pci", "id": "net0", "addr": "0x4"}


def test_state_goes_across_and_a_pending_unplug_completes_on_the_destination() -> None:
    src, _ = pc(BALLOON, guest="never")
    device_add(src, dict(NIC))
    device_del(src, "net0")
    find_balloon(src).target = 64 << 20
    src.backends.blockdevs["n1"] = {"options": {"driver": "null-co", "node-name": "n1"}, "attached": None,
                                    "backing": None}  # fmt: skip
    state = json.loads(json.dumps(vmstate.snapshot(src)))  # what the stream carries is JSON

    dst, clock = pc(BALLOON, NIC)
    deleted: list[str] = []
    dst.events.subscribe(
        lambda e: deleted.append(str((e.data or {}).get("device"))) if e.name == "DEVICE_DELETED" else None
    )
    vmstate.check(dst, state)
    vmstate.apply(dst, state)
    assert dst.guest.policy == "never" and find_balloon(dst).target == 64 << 20
    assert "n1" in dst.backends.blockdevs
    dst.guest.set_policy("prompt")  # the destination's guest answers at last
    dst.cont()
    for _ in range(100):
        clock.now += 0.05
        dst.timers.run_due()
        if "net0" in deleted:
            break
    assert "net0" in deleted


def test_a_destination_without_the_device_refuses_the_state() -> None:
    src, _ = pc(NIC)
    dst, _ = pc()
    with pytest.raises(vmstate.MismatchError, match=r"Unknown savevm section or instance '0000:00:04.0/virtio-net' 0"):
        vmstate.check(dst, vmstate.snapshot(src))


def test_a_cdrom_tray_stays_open_across() -> None:
    """ide-cd's tray state subsection: a tray opened on the source is open on the destination."""
    cd = {"driver": "ide-cd", "id": "cd0", "bus": "ide.1"}
    src, _ = pc(cd)
    (blk,) = src.backends.blks
    blk.tray_open = True
    state = json.loads(json.dumps(vmstate.snapshot(src)))
    dst, _ = pc(cd)
    vmstate.check(dst, state)
    vmstate.apply(dst, state)
    assert [(b.tray_open, b.locked) for b in dst.backends.blks] == [(True, False)]
