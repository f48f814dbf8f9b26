"""pcihp registers, step by step, with values measured on QEMU 7.2 through qtest (see the module doc)."""

from __future__ import annotations

import pytest
from hpfakes import Board, plug

from fakeqemu.machine.acpi.pcihp import BSEL_ERROR, unplug_in_progress
from fakeqemu.qmp.errors import GenericError


def r(b: Board, port: int, size: int = 4) -> int:
    return b.machine.ioports.read(port, size)


def w(b: Board, port: int, value: int, size: int = 4) -> None:
    b.machine.ioports.write(port, size, value)


def test_pc_initial_registers() -> None:
    b = Board("pc")
    b.done()
    got = [r(b, 0xAE00 + off) for off in range(0, 0x1C, 4)]
    assert got == [0, 0, 0, 0xFFFFFFFC, 0, 0, 0xFFFFFFFF]
    assert r(b, 0xAFE0, 2) == 0 and r(b, 0xAFE2, 2) == 0


def test_pc_hotplug_unplug_eject_sequence() -> None:
    b = Board("pc")
    b.done()
    assert b.hp is not None
    n1 = plug(b.machine, b.root, 5 << 3, "n1")
    assert r(b, 0xAFE0, 2) == 0x0002
    assert r(b, 0xAE01) == 0 and r(b, 0xAE02) == 0 and r(b, 0xAE00, 2) == 0  # invalid accesses
    assert r(b, 0xAE00) == 0x20
    assert r(b, 0xAE00) == 0  # reading "up" cleared it
    assert r(b, 0xAE04) == 0
    assert r(b, 0xAE0C) == 0xFFFFFFFC  # removable mask is computed at reset only
    b.hp.unplug_request(b.root, n1)
    assert r(b, 0xAE04) == 0x20
    assert r(b, 0xAE04, 1) == 0 and r(b, 0xAE04, 2) == 0
    assert r(b, 0xAFE0, 1) == 0x02 and r(b, 0xAFE1, 1) == 0
    w(b, 0xAFE0, 0x2, 2)
    assert r(b, 0xAFE0, 2) == 0
    w(b, 0xAE08, 0x40)  # empty slot 6
    w(b, 0xAE08, 0x20, 1)  # byte write: dropped
    w(b, 0xAE08, 0x20, 2)
    w(b, 0xAE09, 0x20)  # unaligned: dropped
    assert r(b, 0xAE04) == 0x20
    w(b, 0xAE10, 3)
    assert (r(b, 0xAE10), r(b, 0xAE04), r(b, 0xAE0C)) == (3, 0, 0xFFFFFFFF)
    w(b, 0xAE10, 0x1F)
    assert (r(b, 0xAE10), r(b, 0xAE0C)) == (0x1F, 0xFFFFFFFF)
    w(b, 0xAE10, 0)
    w(b, 0xAE08, 0x20)
    assert r(b, 0xAE04) == 0
    assert n1 not in b.root.devices
    assert b.deleted() == []  # finalize waits for the RCU grace period
    b.advance(0.02)
    assert b.deleted() == [
        {"path": "/machine/peripheral/n1/virtio-backend"},
        {"device": "n1", "path": "/machine/peripheral/n1"},
    ]


def test_gpe_enable_and_write_one_to_clear() -> None:
    b = Board("pc")
    b.done()
    w(b, 0xAFE2, 0xFFFF, 2)
    assert r(b, 0xAFE2, 2) == 0xFFFF
    plug(b.machine, b.root, 6 << 3, "n2")
    w(b, 0xAFE1, 0xFF, 1)  # high status byte: nothing set there
    assert r(b, 0xAFE0, 2) == 0x0002
    w(b, 0xAFE0, 0xFFFF, 2)
    assert r(b, 0xAFE0, 2) == 0
    assert b.hp is not None and b.hp.gpe.sci_level == 0


def test_selector_out_of_range_reads_zero() -> None:
    b = Board("q35")
    b.done()
    for value, readback in ((0xFFFFFFFF, 0), (256, 0), (255, 0xFF)):
        w(b, 0x0CD0, value)
        assert r(b, 0x0CD0) == readback
    assert r(b, 0x0CCC) == 0xFFFFFFFF  # bsel 255: no bus, mask ~0


def test_q35_layout_and_bsel_order() -> None:
    b = Board("q35")
    rp1 = b.cold(b.root, 3 << 3, "rp1", bridge="rp1")
    rp2 = b.cold(b.root, 4 << 3, "rp2", bridge="rp2")
    pb = b.cold(rp2.child_buses[0], 0, "pb", bridge="pb")
    br = b.cold(b.root, 6 << 3, "br", bridge="br")
    b.done()
    # measured: br=0, rp2=1, pb=2, rp1=3; pcie.0 has no acpi-pcihp-bsel
    assert [d.child_buses[0].bsel for d in (br, rp2, pb, rp1)] == [0, 1, 2, 3]
    assert b.root.bsel is None and b.root.hotplug_handler is None
    assert [r(b, 0x0CC0 + off) for off in range(0, 0x18, 4)] == [0, 0, 0, 0xFFFFFFFF, 0, 0]
    assert r(b, 0x0620) == 0xFFFFFFFF  # GPE0 unmapped until firmware sets PMBASE
    assert b.hp is not None
    n1 = plug(b.machine, rp1.child_buses[0], 0, "n1")
    w(b, 0x0CD0, 3)
    assert r(b, 0x0CC0) == 1 and r(b, 0x0CC0) == 0
    b.hp.unplug_request(rp1.child_buses[0], n1)
    assert r(b, 0x0CC4) == 1
    w(b, 0x0CC8, 1)
    assert n1.parent_bus is None


def test_q35_gpe_after_pmbase() -> None:
    b = Board("q35", qtest=False)
    rp = b.cold(b.root, 3 << 3, "rp", bridge="rp")
    b.done()
    plug(b.machine, rp.child_buses[0], 0, "n1")
    assert r(b, 0x620) == 0x0002 and r(b, 0x620, 1) == 2 and r(b, 0x620, 2) == 2
    assert (r(b, 0x624), r(b, 0x628), r(b, 0x62C)) == (0, 0, 0)


def test_pc_bridges_bsel_and_rmv() -> None:
    b = Board("pc")
    b1 = b.cold(b.root, 3 << 3, "b1", bridge="b1")
    b2 = b.cold(b.root, 4 << 3, "b2", bridge="b2")
    b3 = b.cold(b1.child_buses[0], 1 << 3, "b3", bridge="b3")
    b.cold(b.root, 5 << 3, "c1")
    b.cold(b.root, (5 << 3) | 1, "c2")
    b.done()
    buses = (b.root, b1.child_buses[0], b2.child_buses[0], b3.child_buses[0])
    assert [bus.bsel for bus in buses] == [0, 2, 1, 3]
    assert r(b, 0xAE0C) == 0xFFFFFFE4
    w(b, 0xAE10, 1)
    assert r(b, 0xAE0C) == 0xFFFFFFFF
    w(b, 0xAE10, 0)
    w(b, 0xAE08, 0x2)  # PIIX3: not hotpluggable
    w(b, 0xAE08, 0x8)  # cold-plugged bridge: not ejectable
    assert len(b.root.devices) == 8
    plug(b.machine, b3.child_buses[0], 2 << 3, "h1")
    w(b, 0xAE10, 3)
    assert r(b, 0xAE00) == 0x4


def test_multifunction_eject_removes_all_functions_last_plugged_first() -> None:
    b = Board("pc")
    b.cold(b.root, 5 << 3, "c1")
    c2 = b.cold(b.root, (5 << 3) | 1, "c2")
    b.cold(b.root, 6 << 3, "d1")
    b.done()
    assert b.hp is not None
    b.hp.unplug_request(b.root, c2)
    assert r(b, 0xAE04) == 0x20
    w(b, 0xAE08, 0x60)  # lowest set bit only: slot 5
    assert r(b, 0xAE04) == 0
    b.advance(0.02)
    assert [d.get("device") for d in b.deleted()] == [None, "c2", None, "c1"]
    w(b, 0xAE08, 0x40)  # a guest may eject a device nobody asked to remove
    b.advance(0.02)
    assert [d.get("device") for d in b.deleted()][-1] == "d1"


def test_acpi_off_maps_nothing() -> None:
    b = Board("pc", acpi=False)
    assert b.hp is None and b.root.hotplug_handler is None
    assert r(b, 0xAE00) == 0xFFFFFFFF and r(b, 0xAFE0, 2) == 0xFFFF


def test_bus_without_bsel_refuses() -> None:
    b = Board("pc")
    b.done()
    assert b.hp is not None
    bus = b.root.__class__("hb")
    bus.hotplug_handler = b.hp
    dev = plug(b.machine, b.root, 9 << 3, "x", hotplug=False)
    dev.hotplugged = True
    with pytest.raises(GenericError) as exc:
        b.hp.pre_plug(bus, dev)
    assert exc.value.desc == BSEL_ERROR == "Unsupported bus. Bus doesn't have property 'acpi-pcihp-bsel' set"


def test_repeated_unplug_request_pending_under_qtest() -> None:
    b = Board("pc")
    b.done()
    assert b.hp is not None
    n1 = plug(b.machine, b.root, 5 << 3, "n1")
    assert not unplug_in_progress(n1, 0)
    b.hp.unplug_request(b.root, n1)
    # measured: "Device n1 is already in the process of unplug" (virtual clock stays 0 under -S/qtest)
    assert unplug_in_progress(n1, 0)


def test_reset_ejects_pending_removals() -> None:
    b = Board("pc")
    b.done()
    assert b.hp is not None
    n1 = plug(b.machine, b.root, 5 << 3, "n1")
    b.hp.unplug_request(b.root, n1)
    b.hp.reset()
    assert n1.parent_bus is None and r(b, 0xAE04) == 0
