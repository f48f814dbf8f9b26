"""The guest model's OS assigns a hot-added device's BARs (fakeqemu.machine.guest.pciassign): lowest free
aligned addresses in its bus's windows, after what the firmware placed; nothing under a passive guest."""

from __future__ import annotations

from typing import Any

from fakeqemu.machine.plug import device_add
from tests.machine.rig import Rig
from tests.machine.test_firmware import addresses, entries


def hotplugged(guest: str, *devices: dict[str, str]) -> dict[str, dict[str, Any]]:
    rig = Rig("pc", {"driver": "pci-bridge", "id": "br", "chassis_nr": "1"}, guest=guest, paused=False)
    m = rig.machine
    m.guest.boot()
    for args in devices:
        device_add(m, dict(args))
        for _ in range(20):
            rig.now += 0.05
            m.timers.run_due()
    return entries(m)


def test_prompt_guest_assigns_bottom_up_clear_of_the_firmware() -> None:
    info = hotplugged(
        "prompt",
        {"driver": "virtio-net-pci", "id": "vn"},
        {"driver": "rtl8139", "id": "r1"},
        {"driver": "e1000", "id": "e2", "bus": "br", "addr": "5"},
    )
    vn = {r["bar"]: r["address"] for r in info["vn"]["regions"]}
    assert vn == {0: 0x1000, 1: 0x10004000, 4: 0x10000000, 6: -1}  # largest first; the ROM stays off
    r1 = {r["bar"]: r["address"] for r in info["r1"]["regions"]}
    assert r1[0] == 0x1400 and r1[1] == 0x10005000  # past vn's; I/O clear of the ISA aliases
    e2 = info["e2"]
    assert e2["bus"] == 1 and addresses(e2)[:2] == [0xFE600000, 0xC000]  # inside the bridge's windows
    assert (info["vn"]["slot"], info["vn"]["irq"], info["r1"]["slot"], info["r1"]["irq"]) == (3, 11, 4, 11)


def test_passive_guest_leaves_them_unassigned() -> None:
    info = hotplugged("passive", {"driver": "virtio-net-pci", "id": "vn"})
    assert set(addresses(info["vn"])) == {-1}
