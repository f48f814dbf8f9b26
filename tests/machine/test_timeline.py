"""The unplug path as a timeline: the steps for each guest policy and each eject source, and what a
device waits for meanwhile."""

from __future__ import annotations

import pytest

from fakeqemu.commands.dispatch import run
from fakeqemu.commands.hmp import run as run_hmp
from fakeqemu.commands.registry import Context
from fakeqemu.machine.timeline import LIMIT, Timeline
from fakeqemu.protocols.qtest import QtestSession
from tests.machine.rig import Rig

import fakeqemu.commands.all  # noqa: F401  isort: skip  (registers the commands)

UNPLUG = ["unplug requested", "read down", "eject written", "unparented", "finalized", "DEVICE_DELETED",
          "finalized", "DEVICE_DELETED"]  # fmt: skip


def steps(rig: Rig, device: str = "nic0") -> list[str]:
    return [s.step for s in rig.machine.timeline.steps(device)]


def details(rig: Rig, step: str, device: str = "nic0") -> list[str]:
    return [s.detail for s in rig.machine.timeline.steps(device) if s.step == step]


def started(guest: str, qtest: bool = False) -> Rig:
    rig = Rig(qtest=qtest, guest=guest, paused=False)
    rig.machine.clients = lambda: ["qmp#1", "qmp#2"]
    rig.machine.guest.boot()
    rig.add("nic0", "0x4")
    rig.advance()  # the guest answers the hot-add GPE: it reads "up"
    return rig


def test_prompt_guest() -> None:
    rig = started("prompt")
    assert steps(rig) == ["plugged", "read up"]
    assert rig.machine.timeline.waiting("nic0") is None
    rig.delete("nic0")
    assert rig.machine.timeline.waiting("nic0") == "waiting for the guest to write the eject register"
    rig.advance()
    assert rig.machine.timeline.waiting("nic0") == "waiting for the RCU grace period (finalize, then DEVICE_DELETED)"
    rig.advance(rig.machine.rcu.grace)
    assert steps(rig)[2:] == UNPLUG
    assert details(rig, "eject written") == ["by guest: bsel 0 slot 4"]
    assert details(rig, "finalized") == ["/machine/peripheral/nic0/virtio-backend", "/machine/peripheral/nic0"]
    assert details(rig, "DEVICE_DELETED")[-1] == "/machine/peripheral/nic0 to qmp#1, qmp#2"
    assert rig.machine.timeline.waiting("nic0") is None
    times = [s.t for s in rig.machine.timeline.steps("nic0")]
    assert times == sorted(times) and times[-1] - times[-3] == 0.0


@pytest.mark.parametrize(
    ("policy", "last", "waiting"),
    [
        ("never", "not answered", None),
        ("refuse", "vetoed", None),
        ("delay:500", "eject delayed", "waiting for the guest's delayed eject"),
    ],
)
def test_other_policies(policy: str, last: str, waiting: str | None) -> None:
    rig = started("prompt")
    rig.machine.guest.set_policy(policy, "nic0")
    rig.delete("nic0")
    rig.advance()
    assert steps(rig)[-1] == last
    assert rig.machine.timeline.waiting("nic0") == waiting
    if policy.startswith("delay"):
        rig.advance(0.5)
        rig.advance(rig.machine.rcu.grace)
        assert steps(rig)[-1] == "DEVICE_DELETED"


def test_eject_sources() -> None:
    """Who wrote the eject register: qtest, HMP, an x-fakeqemu command (the guest itself: above)."""
    rig = started("passive", qtest=True)
    rig.add("nic1", "0x5")
    rig.add("nic2", "0x6")
    for dev in ("nic0", "nic1", "nic2"):
        rig.delete(dev)
    assert rig.machine.timeline.waiting("nic0") == "waiting for the guest to write the eject register"
    qtest = QtestSession(rig.machine)
    qtest.handle_line("outl 0xae08 0x10")
    run_hmp(rig.machine, "o/w 0xae08 0x20")
    run(Context(rig.machine), "x-fakeqemu-eject", {"id": "nic2"})
    assert details(rig, "eject written") == ["by qtest: bsel 0 slot 4"]
    assert details(rig, "eject written", "nic1") == ["by hmp: bsel 0 slot 5"]
    assert details(rig, "eject written", "nic2") == ["by x-fakeqemu-eject: bsel 0 slot 6"]
    assert rig.machine.io_source == "guest"


def test_bounded_and_cheap() -> None:
    tl = Timeline(lambda: 0.0, lambda: 0.0)
    assert tl.steps() == [] and tl.devices() == []
    for n in range(LIMIT + 5):
        tl.add(f"d{n}", "plugged")
    assert len(tl.steps()) == LIMIT and tl.devices()[0] == "d5"
