"""The boards as QEMU 7.2 shows them: every recorded object, its property list in QEMU's order, its values."""

from __future__ import annotations

from typing import Any

import pytest

from fakeqemu.cli.qemuopts import device_opts
from fakeqemu.machine.board import Board, device_model, modelled_drivers, recorded
from fakeqemu.machine.machine import Machine, MachineConfig
from fakeqemu.machine.plug import device_add, option_string
from fakeqemu.qmp.errors import GenericError
from fakeqemu.qmp.ghash import StrHashTable, str_hash

#: values that change with the wall clock or per run
VOLATILE = {"date", "rtc-time"}


@pytest.mark.parametrize("kind", ["pc", "q35"])
def test_every_recorded_object_lists_and_reads_as_qemu(kind: str) -> None:
    m = Machine(MachineConfig(machine_type=kind, qtest=True, paused=True))
    assert m.board is not None
    tree = m.board.tree
    objects: dict[str, Any] = recorded()["boards"][kind]["objects"]
    for path, rec in objects.items():
        obj = tree.must(path)
        assert obj.path == path
        assert [list(p) for p in obj.list_props()] == rec["props"], path
        for name, value in rec["values"].items():
            if name not in VOLATILE:
                assert obj.get(name) == value, (path, name)
        for name, err in rec["errors"].items():
            with pytest.raises(GenericError) as exc:
                obj.get(name)
            assert exc.value.desc == err["desc"]


@pytest.mark.parametrize("kind", ["pc", "q35"])
@pytest.mark.parametrize("driver", modelled_drivers())
def test_hot_added_device_matches_the_recorded_instance(kind: str, driver: str) -> None:
    rec = recorded()["devices"][kind][driver]
    if "error" in rec:
        pytest.skip(f"QEMU refuses {driver} here: {rec['error']['desc']}")
    args = dict(rec["args"])
    if rec.get("cold"):
        # recorded cold-plugged, as libvirt starts it: on the command line, after the parent it sits on
        cfg = MachineConfig(machine_type=kind, qtest=True, paused=True)
        cfg.devices = [device_opts(parent) for parent in rec["parent"]]
        cfg.devices.append({k: option_string(v) for k, v in args.items()})
        cfg.blockdevs.append({"driver": "null-co", "node-name": "disk0"})
        m = Machine(cfg)
        assert m.board is not None
        _matches(m.board, rec)
        return
    extra = ["-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x3"] if kind == "q35" else []
    cfg = MachineConfig(machine_type=kind, qtest=True, paused=True)
    if extra:
        cfg.devices.append({"driver": "pcie-root-port", "id": "rp1", "bus": "pcie.0", "chassis": "1", "addr": "0x3"})
    if driver == "pcie-root-port" and kind == "q35":
        cfg.devices = [{**args, "bus": "pcie.0", "addr": "0x4"}]
    else:
        cfg.blockdevs.append({"driver": "null-co", "node-name": "disk0"})
    m = Machine(cfg)
    assert m.board is not None
    if not (driver == "pcie-root-port" and kind == "q35"):
        device_add(m, args)
    _matches(m.board, rec)
    for path, orec in rec["elsewhere"].items():
        if "date" in orec["values"]:
            continue  # the RTC: only its clock changed
        assert [list(p) for p in m.board.tree.must(path).list_props()] == orec["props"], path


def _matches(board: Board, rec: dict[str, Any]) -> None:
    for rel, orec in rec["objects"].items():
        obj = board.tree.must("/machine/peripheral/dev0" + rel)
        assert [list(p) for p in obj.list_props()] == orec["props"], rel
        for name, value in orec["values"].items():
            assert obj.get(name) == value, (rel, name)


def test_str_hash_is_glib_djb2() -> None:
    assert str_hash("") == 5381
    assert str_hash("a") == 5381 * 33 + ord("a")


def test_table_order_survives_growth_and_removal() -> None:
    t = StrHashTable()
    names = [f"child[{i}]" for i in range(40)]
    for n in names:
        t.insert(n)
    assert sorted(t) == sorted(names)
    for n in names[::2]:
        assert t.remove(n)
    assert sorted(t) == sorted(names[1::2])
    assert len(t) == 20
    assert "child[1]" in t and "child[0]" not in t


def test_idle_vm_shares_the_recorded_facts() -> None:
    a, b = Board("pc"), Board("pc")
    pa, pb = a.tree.must("/machine/i440fx"), b.tree.must("/machine/i440fx")
    assert pa is not pb and pa.props is pb.props and pa.values is pb.values


def test_models_know_their_backend_owner() -> None:
    model = device_model("pc", "virtio-net-pci")
    assert model is not None and model.backend_type == "virtio-net-device" and model.is_nic
    e1000 = device_model("pc", "e1000")
    assert e1000 is not None and e1000.backend_type is None


@pytest.mark.parametrize("driver", ["pci-bridge", "pcie-root-port", "pcie-pci-bridge"])
def test_bridge_children_list_in_qemu_order_for_any_id(driver: str) -> None:
    recorded_lists: dict[str, list[str]] = recorded()["bridge-children"][driver]
    chassis = {"pci-bridge": "chassis_nr", "pcie-root-port": "chassis"}.get(driver)
    cfg = MachineConfig(machine_type="q35", qtest=True, paused=True)
    for n, dev_id in enumerate(recorded_lists):
        opts = {chassis: str(n + 1)} if chassis else {}
        cfg.devices.append({"driver": driver, "id": dev_id, "addr": hex(n + 3), **opts})
    m = Machine(cfg)
    assert m.board is not None
    for dev_id, want in recorded_lists.items():
        obj = m.board.tree.must(f"/machine/peripheral/{dev_id}")
        assert [n for n, t in obj.list_props() if t.startswith("child<")] == want, dev_id


def test_qom_set_on_a_shared_object_stays_in_its_vm() -> None:
    a, b = Board("pc"), Board("pc")
    path = "/machine/unattached/device[0]/lapic"
    oa, ob = a.tree.must(path), b.tree.must(path)
    assert oa is ob and oa.shared  # the CPU's subtree is shared by both VMs
    name = next(n for n, t in oa.list_props() if t == "uint8" or t == "uint32")
    before = b.tree.get(ob, name)
    a.tree.set(oa, name, 42)
    assert a.tree.get(oa, name) == 42 and b.tree.get(ob, name) == before
    with pytest.raises(RuntimeError):
        oa.set_own(name, 1)


def test_shared_objects_hold_no_pointer_into_a_vm() -> None:
    first = Board("pc")
    second = Board("pc")
    shared = [o for o in first.tree.root.walk() if o.shared]
    roots = [o for o in shared if o.mount]
    assert roots and all(o.parent is None for o in roots)  # the VM points to them, not they to a VM
    for obj in shared:
        assert first.tree.resolve(obj.path) is obj and second.tree.resolve(obj.path) is obj
    assert "/machine/unattached/device[0]" in {o.path for o in shared}
