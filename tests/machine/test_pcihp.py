"""pcihp registers, step by step, with values measured on QEMU 7.2 through qtest (see the module doc)."""

from __future__ import annotations

import pytest

from fakeqemu.machine.acpi.pcihp import BSEL_ERROR, unplug_in_progress
from fakeqemu.machine.core.qdev import PCIBus
from fakeqemu.qmp.errors import GenericError
from tests.machine.rig import Rig, bridge, nic, root_port


def test_pc_initial_registers() -> None:
    b = Rig("pc")
    got = [b.read(0xAE00 + off) for off in range(0, 0x1C, 4)]
    assert got == [0, 0, 0, 0xFFFFFFFC, 0, 0, 0xFFFFFFFF]
    assert b.read(0xAFE0, 2) == 0 and b.read(0xAFE2, 2) == 0


def test_pc_hotplug_unplug_eject_sequence() -> None:
    b = Rig("pc")
    n1 = b.add("n1", "0x5")
    assert b.read(0xAFE0, 2) == 0x0002
    assert b.read(0xAE01) == 0 and b.read(0xAE02) == 0 and b.read(0xAE00, 2) == 0  # invalid accesses
    assert b.read(0xAE00) == 0x20
    assert b.read(0xAE00) == 0  # reading "up" cleared it
    assert b.read(0xAE04) == 0
    assert b.read(0xAE0C) == 0xFFFFFFFC  # removable mask is computed at reset only
    b.delete("n1")
    assert b.read(0xAE04) == 0x20
    assert b.read(0xAE04, 1) == 0 and b.read(0xAE04, 2) == 0
    assert b.read(0xAFE0, 1) == 0x02 and b.read(0xAFE1, 1) == 0
    b.write(0xAFE0, 0x2, 2)
    assert b.read(0xAFE0, 2) == 0
    b.write(0xAE08, 0x40)  # empty slot 6
    b.write(0xAE08, 0x20, 1)  # byte write: dropped
    b.write(0xAE08, 0x20, 2)
    b.write(0xAE09, 0x20)  # unaligned: dropped
    assert b.read(0xAE04) == 0x20
    b.write(0xAE10, 3)
    assert (b.read(0xAE10), b.read(0xAE04), b.read(0xAE0C)) == (3, 0, 0xFFFFFFFF)
    b.write(0xAE10, 0x1F)
    assert (b.read(0xAE10), b.read(0xAE0C)) == (0x1F, 0xFFFFFFFF)
    b.write(0xAE10, 0)
    b.write(0xAE08, 0x20)
    assert b.read(0xAE04) == 0
    assert n1 not in b.root.devices
    assert b.deleted() == []  # finalize waits for the RCU grace period
    b.advance(0.02)
    assert b.deleted() == [
        {"path": "/machine/peripheral/n1/virtio-backend"},
        {"device": "n1", "path": "/machine/peripheral/n1"},
    ]


def test_gpe_enable_and_write_one_to_clear() -> None:
    b = Rig("pc")
    b.write(0xAFE2, 0xFFFF, 2)
    assert b.read(0xAFE2, 2) == 0xFFFF
    b.add("n2", "0x6")
    b.write(0xAFE1, 0xFF, 1)  # high status byte: nothing set there
    assert b.read(0xAFE0, 2) == 0x0002
    b.write(0xAFE0, 0xFFFF, 2)
    assert b.read(0xAFE0, 2) == 0
    assert b.hp is not None and b.hp.gpe.sci_level == 0


def test_selector_out_of_range_reads_zero() -> None:
    b = Rig("q35")
    for value, readback in ((0xFFFFFFFF, 0), (256, 0), (255, 0xFF)):
        b.write(0x0CD0, value)
        assert b.read(0x0CD0) == readback
    assert b.read(0x0CCC) == 0xFFFFFFFF  # bsel 255: no bus, mask ~0


def test_q35_layout_and_bsel_order() -> None:
    b = Rig("q35", root_port("rp1", "0x3", 1), root_port("rp2", "0x4", 2), bridge("pb", "0x0", "rp2", 3),
            bridge("br", "0x6", chassis=4))  # fmt: skip
    rp1, rp2, pb, br = (b.device(d) for d in ("rp1", "rp2", "pb", "br"))
    # measured: br=0, rp2=1, pb=2, rp1=3; pcie.0 has no acpi-pcihp-bsel
    assert [d.pci_child_buses[0].bsel for d in (br, rp2, pb, rp1)] == [0, 1, 2, 3]
    assert b.root.bsel is None and b.root.hotplug_handler is None
    assert [b.read(0x0CC0 + off) for off in range(0, 0x18, 4)] == [0, 0, 0, 0xFFFFFFFF, 0, 0]
    assert b.read(0x0620) == 0xFFFFFFFF  # GPE0 unmapped until firmware sets PMBASE
    n1 = b.add("n1", "0x0", bus="rp1")
    b.write(0x0CD0, 3)
    assert b.read(0x0CC0) == 1 and b.read(0x0CC0) == 0
    b.delete("n1")
    assert b.read(0x0CC4) == 1
    b.write(0x0CC8, 1)
    assert not b.plugged(n1)


def test_q35_gpe_after_pmbase() -> None:
    b = Rig("q35", root_port("rp", "0x3", 1), qtest=False, guest="passive")
    b.add("n1", "0x0", bus="rp")
    assert b.read(0x620) == 0x0002 and b.read(0x620, 1) == 2 and b.read(0x620, 2) == 2
    assert (b.read(0x624), b.read(0x628), b.read(0x62C)) == (0, 0, 0)


def test_pc_bridges_bsel_and_rmv() -> None:
    b = Rig("pc", bridge("b1", "0x3"), bridge("b2", "0x4", chassis=2), bridge("b3", "0x1", "b1", 3),
            {**nic("c1", "0x5.0"), "multifunction": "on"}, nic("c2", "0x5.1"))  # fmt: skip
    b1, b2, b3 = (b.device(d) for d in ("b1", "b2", "b3"))
    buses = (b.root, b1.pci_child_buses[0], b2.pci_child_buses[0], b3.pci_child_buses[0])
    assert [bus.bsel for bus in buses] == [0, 2, 1, 3]
    assert b.read(0xAE0C) == 0xFFFFFFE4
    b.write(0xAE10, 1)
    assert b.read(0xAE0C) == 0xFFFFFFFF
    b.write(0xAE10, 0)
    b.write(0xAE08, 0x2)  # PIIX3: not hotpluggable
    b.write(0xAE08, 0x8)  # cold-plugged bridge: not ejectable
    assert len(b.root.devices) == 8
    b.add("h1", "0x2", bus="b3")
    b.write(0xAE10, 3)
    assert b.read(0xAE00) == 0x4


def test_multifunction_eject_removes_all_functions_last_plugged_first() -> None:
    b = Rig("pc", {**nic("c1", "0x5.0"), "multifunction": "on"}, nic("c2", "0x5.1"), nic("d1", "0x6"))
    b.delete("c2")
    assert b.read(0xAE04) == 0x20
    b.write(0xAE08, 0x60)  # lowest set bit only: slot 5
    assert b.read(0xAE04) == 0
    b.advance(0.02)
    assert [d.get("device") for d in b.deleted()] == [None, "c2", None, "c1"]
    b.write(0xAE08, 0x40)  # a guest may eject a device nobody asked to remove
    b.advance(0.02)
    assert [d.get("device") for d in b.deleted()][-1] == "d1"


def test_acpi_off_maps_nothing() -> None:
    b = Rig("pc", acpi=False)
    assert b.machine.pcihp is None and b.root.hotplug_handler is None
    assert b.read(0xAE00) == 0xFFFFFFFF and b.read(0xAFE0, 2) == 0xFFFF


def test_bus_without_bsel_refuses() -> None:
    b = Rig("pc")
    bus = PCIBus("PCI", "hb")
    bus.hotplug_handler = b.hp
    dev = b.add("x", "0x9")
    with pytest.raises(GenericError) as exc:
        b.hp.pre_plug(bus, dev)
    assert exc.value.desc == BSEL_ERROR == "Unsupported bus. Bus doesn't have property 'acpi-pcihp-bsel' set"


def test_repeated_unplug_request_pending_under_qtest() -> None:
    b = Rig("pc")
    n1 = b.add("n1", "0x5")
    assert not unplug_in_progress(n1, 0)
    b.delete("n1")
    # measured: "Device n1 is already in the process of unplug" (virtual clock stays 0 under -S/qtest)
    assert unplug_in_progress(n1, 0)
    with pytest.raises(GenericError, match="Device n1 is already in the process of unplug"):
        b.delete("n1")


def test_reset_ejects_pending_removals() -> None:
    b = Rig("pc")
    n1 = b.add("n1", "0x5")
    b.delete("n1")
    b.hp.reset()
    assert not b.plugged(n1) and b.read(0xAE04) == 0
