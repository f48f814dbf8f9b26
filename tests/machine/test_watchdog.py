"""The watchdog devices on QEMU's virtual clock, the guest's watchdog daemon and its panics, on a VM whose
clock the test moves (tests/machine/rig.py). QEMU's own answers are compared in
tests/differential/test_watchdog.py."""

from __future__ import annotations

from typing import Any

import pytest

from fakeqemu.commands import all as _all  # noqa: F401  (registers the commands)
from fakeqemu.commands.dispatch import run
from fakeqemu.commands.registry import Context
from fakeqemu.machine.devices.watchdog import find_watchdog
from fakeqemu.machine.guest.panic import panic
from fakeqemu.machine.guest.watchdog import WatchdogPolicyError
from tests.machine.rig import Rig

IB700 = {"driver": "ib700", "id": "wd0"}
ESB = {"driver": "i6300esb", "id": "wd0", "addr": "0x4"}
PVPANIC = {"driver": "pvpanic", "id": "pp0"}


def rig(*devices: dict[str, str], policy: str = "off", paused: bool = False) -> Rig:
    r = Rig("pc", *devices, qtest=False, paused=paused)
    r.machine.watchdog_daemon.set_policy(policy)
    return r


def run_for(r: Rig, seconds: float, step: float = 0.05) -> None:
    for _ in range(round(seconds / step)):
        r.advance(step)


def names(r: Rig) -> list[str]:
    return [n for n, _ in r.events if n not in ("RESUME",)]


@pytest.mark.parametrize("device", [IB700, ESB], ids=["ib700", "i6300esb"])
def test_hung_guest_fires_after_its_timeout_and_arms_again_after_the_reset(device: dict[str, str]) -> None:
    r = rig(device, policy="hang:2")
    run_for(r, 1.8)
    assert names(r) == []
    dev = find_watchdog(r.machine)
    assert dev is not None and dev.armed
    run_for(r, 0.4)
    assert names(r) == ["WATCHDOG", "RESET"]
    assert r.events[0] == ("WATCHDOG", {"action": "reset"})
    run_for(r, 2.2)  # the guest booted again and armed it again
    assert names(r) == ["WATCHDOG", "RESET", "WATCHDOG", "RESET"]


@pytest.mark.parametrize("device", [IB700, ESB], ids=["ib700", "i6300esb"])
def test_petting_guest_keeps_it_quiet_until_it_stops(device: dict[str, str]) -> None:
    r = rig(device, policy="pet:2")
    run_for(r, 10)
    assert names(r) == []
    r.machine.watchdog_daemon.set_policy("hang:2")  # the guest stops petting
    run_for(r, 2.2)
    assert names(r)[:1] == ["WATCHDOG"]


def test_virtual_clock_stands_still_while_the_vm_is_stopped() -> None:
    r = rig(IB700, policy="hang:4")
    run_for(r, 2)
    r.machine.stop()
    run_for(r, 10)
    assert names(r) == ["STOP"]
    r.machine.cont()
    run_for(r, 1.8)
    assert names(r) == ["STOP"]
    run_for(r, 0.4)
    assert "WATCHDOG" in names(r)


def test_pause_action_leaves_the_watchdog_run_state() -> None:
    r = rig(IB700, policy="hang:2")
    r.machine.actions["watchdog"] = "pause"
    run_for(r, 2.2)
    assert names(r) == ["WATCHDOG", "STOP"]
    assert r.machine.runstate == "watchdog"


def test_panic_reaches_qemu_through_pvpanic_and_stops_the_petting() -> None:
    r = rig(IB700, PVPANIC, policy="pet:2")
    r.machine.actions["panic"] = "pause"
    run_for(r, 3)
    assert panic(r.machine) is True
    assert names(r) == ["GUEST_PANICKED", "STOP"]
    assert r.machine.runstate == "guest-panicked"
    r.machine.cont()  # the dead kernel runs on: nothing pets the watchdog any more
    run_for(r, 2.2)
    assert names(r)[2:4] == ["WATCHDOG", "RESET"]


def test_panic_without_pvpanic_is_silent_until_the_watchdog_fires() -> None:
    r = rig(ESB, policy="pet:2")
    run_for(r, 3)
    assert panic(r.machine) is False
    run_for(r, 1)
    assert names(r) == []
    run_for(r, 1.5)
    assert names(r) == ["WATCHDOG", "RESET"]


def _qmp(r: Rig, name: str, args: dict[str, Any]) -> Any:
    return run(Context(r.machine), name, args)


def test_commands_and_policy_errors() -> None:
    r = rig(IB700)
    assert _qmp(r, "x-fakeqemu-watchdog", {}) == {
        "policy": "off", "device": "ib700", "guest-armed": False, "device-armed": False,
    }  # fmt: skip
    with pytest.raises(WatchdogPolicyError):
        r.machine.watchdog_daemon.set_policy("hang:0")
    reply = _qmp(r, "x-fakeqemu-watchdog", {"policy": "hang:2"})
    assert reply["policy"] == "hang:2"
    r.advance()
    assert _qmp(r, "x-fakeqemu-watchdog", {})["device-armed"] is True
    assert _qmp(r, "x-fakeqemu-panic", {}) == {"reported": False}
