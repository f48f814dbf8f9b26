"""device_add / device_del on the real board model (facts measured on QEMU 7.2)."""

from __future__ import annotations

from typing import Any

import pytest

from fakeqemu.machine.machine import ColdPlugError, Machine, MachineConfig
from fakeqemu.machine.plug import device_add, device_del
from fakeqemu.qmp.errors import DeviceNotFound, GenericError


def machine(kind: str = "pc", **kw: Any) -> tuple[Machine, list[dict[str, Any]], list[float]]:
    now = [0.0]
    m = Machine(
        MachineConfig(machine_type=kind, qtest=True, paused=True, rcu_grace=0.0, **kw), monotonic=lambda: now[0]
    )
    deleted: list[dict[str, Any]] = []
    m.events.subscribe(lambda e: deleted.append(e.data or {}) if e.name == "DEVICE_DELETED" else None)
    return m, deleted, now


def peripheral(m: Machine, container: str = "peripheral") -> list[str]:
    assert m.board is not None
    return [n for n, _ in m.board.tree.must(f"/machine/{container}").list_props() if n != "type"]


def eject(m: Machine, slot: int, bsel: int = 0) -> None:
    m.ioports.write(0xAE10, 4, bsel)
    m.ioports.write(0xAE08, 4, 1 << slot)
    m.timers.run_due()


def test_anonymous_devices_take_free_indexes_and_macs_count_up() -> None:
    m, _, _ = machine()
    device_add(m, {"driver": "pci-bridge", "chassis_nr": 3, "addr": "0x7"})
    device_add(m, {"driver": "e1000", "id": "n1"})
    device_add(m, {"driver": "e1000"})
    assert peripheral(m, "peripheral-anon") == ["device[0]", "device[1]"]
    assert m.board is not None
    tree = m.board.tree
    assert tree.must("/machine/peripheral/n1").get("mac") == "52:54:00:12:34:56"
    assert tree.must("/machine/peripheral-anon/device[1]").get("mac") == "52:54:00:12:34:57"
    assert "pci.1" in tree.must("/machine/peripheral-anon/device[0]").children
    assert tree.must("/machine/peripheral/n1").get("addr") == 2 << 3  # first free slot
    assert tree.must("/machine/peripheral/n1").get("parent_bus") == "/machine/i440fx/pci.0"


def test_ejecting_a_hot_added_bridge_deletes_what_is_behind_it_first() -> None:
    m, deleted, _ = machine()
    device_add(m, {"driver": "pci-bridge", "id": "br2", "chassis_nr": 2, "addr": "0x8"})
    device_add(m, {"driver": "e1000", "id": "n1", "bus": "br2", "addr": "2"})
    device_add(m, {"driver": "virtio-net-pci", "id": "n2", "bus": "br2", "addr": "3"})
    device_del(m, "br2")
    eject(m, 8)
    assert deleted == [
        {"path": "/machine/peripheral/n2/virtio-backend"},
        {"device": "n2", "path": "/machine/peripheral/n2"},
        {"device": "n1", "path": "/machine/peripheral/n1"},
        {"device": "br2", "path": "/machine/peripheral/br2"},
    ]
    assert peripheral(m) == []


def test_unplug_leaves_the_tree_at_once_and_finalizes_after_the_grace_period() -> None:
    now = [0.0]
    m = Machine(MachineConfig(qtest=True, paused=True, rcu_grace=0.05), monotonic=lambda: now[0])
    deleted: list[Any] = []
    m.events.subscribe(lambda e: deleted.append(e.data) if e.name == "DEVICE_DELETED" else None)
    device_add(m, {"driver": "e1000", "id": "n1", "addr": "4"})
    device_del(m, "n1")
    eject(m, 4)
    assert peripheral(m) == [] and deleted == []
    now[0] = 1.0
    m.timers.run_due()
    assert deleted == [{"device": "n1", "path": "/machine/peripheral/n1"}]


def test_cold_bridge_is_not_ejected() -> None:
    m, deleted, _ = machine(devices=[{"driver": "pci-bridge", "id": "br1", "chassis_nr": "1", "addr": "0x6"}])
    device_del(m, "br1")
    eject(m, 6)
    assert deleted == [] and peripheral(m) == ["br1"]


def test_backends_are_claimed_and_released() -> None:
    m, _, _ = machine(blockdevs=[{"driver": "null-co", "node-name": "d1"}])
    device_add(m, {"driver": "virtio-blk-pci", "id": "b1", "drive": "d1", "addr": "4"})
    with pytest.raises(GenericError, match="Permission conflict on node 'd1'"):
        device_add(m, {"driver": "virtio-blk-pci", "id": "b2", "drive": "d1"})
    device_del(m, "b1")
    eject(m, 4)
    assert m.backends.blockdevs["d1"]["attached"] is None
    device_add(m, {"driver": "virtio-blk-pci", "id": "b2", "drive": "d1"})


@pytest.mark.parametrize(
    ("args", "desc"),
    [
        ({"driver": "e1000", "addr": "0x20"}, "Property 'e1000.addr' doesn't take value '0x20'"),
        ({"driver": "e1000", "addr": "4.8"}, "Property 'e1000.addr' doesn't take value '4.8'"),
        ({"driver": "e1000", "bogus": "1"}, "Property 'e1000.bogus' not found"),
        ({"driver": "e1000", "addr": "1"}, "PCI: slot 1 function 0 not available for e1000, in use by PIIX3,id=(null)"),
        ({"driver": "virtio-net-pci", "netdev": "nope"}, "Property 'virtio-net-device.netdev' can't find value 'nope'"),
        ({"driver": "virtio-blk-pci"}, "drive property not set"),
        ({"driver": "isa-serial"}, "Bus 'isa.0' does not support hotplugging"),
        ({"driver": "nonesuch"}, "'nonesuch' is not a valid device model name"),
    ],
)
def test_device_add_errors(args: dict[str, Any], desc: str) -> None:
    m, _, _ = machine()
    with pytest.raises(GenericError) as exc:
        device_add(m, args)
    assert exc.value.desc == desc
    assert peripheral(m) == [] and peripheral(m, "peripheral-anon") == []


def test_device_del_lookup() -> None:
    m, _, _ = machine()
    with pytest.raises(DeviceNotFound):
        device_del(m, "nope")
    with pytest.raises(GenericError, match="Bus 'main-system-bus' does not support hotplugging"):
        device_del(m, "/machine/i440fx")
    with pytest.raises(GenericError, match="is not a hotpluggable device"):
        device_del(m, "/machine/peripheral")


def test_q35_root_bus_refuses_hotplug_but_cold_plug_works() -> None:
    m, _, _ = machine("q35", devices=[{"driver": "e1000e", "id": "n0", "bus": "pcie.0", "addr": "0x5"}])
    with pytest.raises(GenericError, match=r"Bus 'pcie\.0' does not support hotplugging"):
        device_add(m, {"driver": "e1000e", "id": "n1", "bus": "pcie.0", "addr": "0x6"})
    assert peripheral(m) == ["n0"]


def test_cold_plug_error_names_the_option() -> None:
    cfg = MachineConfig(qtest=True, devices=[{"driver": "e1000", "addr": "zz"}], device_args=["e1000,addr=zz"])
    with pytest.raises(ColdPlugError) as exc:
        Machine(cfg)
    assert str(exc.value) == "-device e1000,addr=zz: Property 'e1000.addr' doesn't take value 'zz'"


def test_machine_none_has_no_pci_bus() -> None:
    m, _, _ = machine("none")
    with pytest.raises(GenericError, match="No 'PCI' bus found for device 'e1000'"):
        device_add(m, {"driver": "e1000"})


@pytest.mark.parametrize(
    ("adds", "desc"),
    [
        (["5", "5.1"], "PCI: slot 5 function 0 already occupied by e1000, new func e1000 cannot be exposed to guest."),
        (["7.2", "7"], "PCI: 7.0 indicates single function, but 7.2 is already populated."),
        (["4.1", "4.1"], "PCI: slot 4 function 1 not available for e1000, in use by e1000,id=(null)"),
    ],
)
def test_functions_of_a_slot(adds: list[str], desc: str) -> None:
    m, _, _ = machine()
    device_add(m, {"driver": "e1000", "addr": adds[0]})
    with pytest.raises(GenericError) as exc:
        device_add(m, {"driver": "e1000", "addr": adds[1]})
    assert exc.value.desc == desc


@pytest.mark.parametrize(
    ("prop", "value", "desc"),
    [
        ("mitigation", "maybe", "Parameter 'mitigation' expects 'on' or 'off'"),
        ("bootindex", "x", "Parameter 'bootindex' expects integer"),
        ("acpi-index", "-1", "Parameter 'acpi-index' expects uint32_t"),
        ("mac", "zz", "Property 'e1000.mac' doesn't take value 'zz'"),
    ],
)
def test_property_values_are_checked(prop: str, value: str, desc: str) -> None:
    m, _, _ = machine()
    with pytest.raises(GenericError) as exc:
        device_add(m, {"driver": "e1000", prop: value})
    assert exc.value.desc == desc


def test_guest_faults_are_in_the_traffic_record() -> None:
    now = [0.0]
    m = Machine(MachineConfig(paused=False, guest="refuse", traffic_limit=1 << 16), monotonic=lambda: now[0])
    device_add(m, {"driver": "e1000", "id": "n1", "addr": "4"})
    device_del(m, "n1")
    m.timers.run_due()  # the guest's SCI handler: the next tick
    m.guest.set_policy("never")
    m.guest.set_policy("delay:300")
    notes = [r.data.decode() for r in m.traffic.since() if r.connection == "guest"]
    assert notes[0] == "fault: guest refuse: eject of bsel 0 slot 4 vetoed"
    assert "fault: guest delay:300: eject of bsel 0 slot 4 delayed 300 ms" in notes
