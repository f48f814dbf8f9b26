"""The guest model's pciehp (fakeqemu.machine.guest.pciehp) on a machine type whose PCIe root ports hot-plug
natively (pc-q35-6.0): it powers a hot-added device's slot on, and on device_del's attention button blinks
the power indicator for pciehp's 5 s (or a delay policy's ms), then powers the slot off, which unplugs."""

from __future__ import annotations

import pytest

from fakeqemu.machine.pci.native import PIC_BLINK, PIC_ON, SLTCTL_PCC, SLTCTL_PIC
from fakeqemu.machine.plug import device_del
from fakeqemu.qmp.errors import GenericError
from tests.machine.rig import Rig, root_port

SLTCTL, SLTSTA = 0x54 + 0x18, 0x54 + 0x1A


def make(policy: str) -> Rig:
    return Rig("q35", root_port("rp1", "0x3", 1), qtest=False, guest=policy, paused=False, machine_name="pc-q35-6.0")


def slot(b: Rig, reg: int) -> int:
    host = b.machine.pci_host
    assert host is not None
    return host.config_read(0, 3 << 3, reg, 2)


def test_prompt_powers_on_then_off_after_five_seconds() -> None:
    b = make("prompt")
    n1 = b.add("n1", "0x0", bus="rp1")
    assert slot(b, SLTCTL) & SLTCTL_PCC  # the guest has not run yet
    b.advance()
    assert slot(b, SLTCTL) & (SLTCTL_PCC | SLTCTL_PIC) == PIC_ON and slot(b, SLTSTA) & 0x19 == 0
    b.delete("n1")
    b.advance()
    assert slot(b, SLTCTL) & SLTCTL_PIC == PIC_BLINK
    with pytest.raises(GenericError, match="already in the process of unplug"):
        device_del(b.machine, "n1")
    b.advance(4.9)
    assert b.plugged(n1)
    b.advance(0.2)
    assert not b.plugged(n1) and slot(b, SLTCTL) & SLTCTL_PCC
    b.advance(0.02)
    assert [d.get("device") for d in b.deleted()] == [None, "n1"]


def test_delay_refuse_never() -> None:
    b = make("delay:100")
    n1 = b.add("n1", "0x0", bus="rp1")
    b.advance()
    b.delete("n1")
    b.advance()
    b.advance(0.05)
    assert b.plugged(n1)
    b.advance(0.06)
    assert not b.plugged(n1)

    b.machine.guest.set_policy("refuse")
    n2 = b.add("n2", "0x0", bus="rp1")
    b.advance()
    b.delete("n2")
    b.advance(6)
    assert b.plugged(n2) and slot(b, SLTCTL) & SLTCTL_PIC == PIC_ON and slot(b, SLTSTA) & 0x1 == 0

    b.machine.guest.set_policy("never")
    b.advance(1)  # the 5 s window has passed: device_del is sent again, nobody answers
    b.delete("n2")
    b.advance(6)
    assert b.plugged(n2) and slot(b, SLTSTA) & 0x1


def test_eject_now_powers_the_slot_off() -> None:
    """x-fakeqemu-eject (the testing API's eject, the dashboard's 'eject now') of a device in a native slot:
    the guest's pciehp powers the slot off at once, whatever the policy."""
    b = make("prompt")
    n1 = b.add("n1", "0x0", bus="rp1")
    b.advance()  # the guest powered the slot on
    b.machine.guest.set_policy("never")
    b.machine.guest.eject_device(n1)
    assert not b.plugged(n1) and slot(b, SLTCTL) & SLTCTL_PCC
