"""The guest's cdrom driver (-fakeqemu cdrom=): a booted guest locks the tray of a mounted medium; an eject
request gets QEMU's answer for a locked tray, then the guest opens it (lock) or keeps it shut (hold); force
opens it either way; a medium in a tray closed again is locked again."""

from __future__ import annotations

from typing import Any

import pytest

from fakeqemu.commands.media import blockdev_change_medium, blockdev_close_tray, blockdev_open_tray, eject
from fakeqemu.commands.registry import Context
from fakeqemu.machine.machine import Machine, MachineConfig
from fakeqemu.qmp.errors import GenericError

LOCKED = "Device 'cd0' is locked and force was not specified, wait for tray to open and try again"


def vm(policy: str, paused: bool = True) -> tuple[Machine, Context, list[Any]]:
    cfg = MachineConfig(machine_type="pc", cdrom=policy, paused=paused)
    cfg.blockdevs.append({"driver": "null-co", "node-name": "m0", "read-only": True})
    cfg.devices.append({"driver": "ide-cd", "id": "cd0", "bus": "ide.1", "drive": "m0"})
    m = Machine(cfg)
    moved: list[Any] = []
    m.events.subscribe(lambda e: moved.append((e.data or {})["tray-open"]) if e.name == "DEVICE_TRAY_MOVED" else None)
    return m, Context(m), moved


def test_a_booted_guest_locks_and_opens_on_request() -> None:
    m, ctx, moved = vm("lock")
    (blk,) = m.backends.blks
    assert not blk.locked  # not booted yet: the firmware locks nothing
    m.cont()
    assert blk.locked
    with pytest.raises(GenericError, match=LOCKED):
        eject(ctx, {"id": "cd0"})
    assert moved == [] and not blk.tray_open
    m.timers.run_due()  # the guest answers the eject request
    assert moved == [True] and blk.tray_open and not blk.locked
    eject(ctx, {"id": "cd0"})  # the tray is open now: the medium goes
    assert m.backends.blockdevs["m0"]["attached"] is None


def test_hold_keeps_the_tray_shut_until_forced() -> None:
    m, ctx, moved = vm("hold", paused=False)
    (blk,) = m.backends.blks
    assert blk.locked
    blockdev_open_tray(ctx, {"id": "cd0"})  # no error: QEMU only asks the guest
    m.timers.run_due()
    assert moved == [] and blk.locked
    blockdev_open_tray(ctx, {"id": "cd0", "force": True})
    assert moved == [True] and not blk.locked
    blockdev_close_tray(ctx, {"id": "cd0"})  # the medium is mounted again
    assert moved == [True, False] and blk.locked


def test_free_never_locks() -> None:
    m, ctx, moved = vm("free", paused=False)
    assert m.cdrom_guest is None
    eject(ctx, {"id": "cd0"})
    assert moved == [True]


def test_a_changed_medium_goes_with_its_device() -> None:
    """blockdev-change-medium's nodes (#blockN) are the backend's alone: they go when the device does."""
    m, ctx, _ = vm("free", paused=False)
    blockdev_change_medium(ctx, {"id": "cd0", "filename": __file__, "format": "raw", "read-only-mode": "read-only"})
    assert any(n.startswith("#") for n in m.backends.blockdevs)
    (blk,) = m.backends.blks
    m.backends.release(blk.dev)
    assert not any(n.startswith("#") for n in m.backends.blockdevs) and "m0" in m.backends.blockdevs
    m.close()
