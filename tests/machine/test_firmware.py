"""The firmware model (fakeqemu.machine.pci.firmware, SeaBIOS 1.16's pci_setup) on the Machine: when it
runs (the vCPUs start under TCG/KVM, again after each reset; never under the qtest accelerator), that it is
carried out only when PCI is looked at, and what it leaves. QEMU's own answers are compared in
tests/differential/test_firmware_pci.py."""

from __future__ import annotations

import time
from typing import Any

from fakeqemu.machine.config import MachineConfig
from fakeqemu.machine.machine import Machine

DEVICES = [
    {"driver": "e1000", "id": "e1", "romfile": ""},
    {"driver": "pci-bridge", "id": "br", "chassis_nr": "1"},
    {"driver": "virtio-net-pci", "id": "vn", "bus": "br", "addr": "3"},
]


def machine(accel: str = "tcg", paused: bool = True, kind: str = "pc") -> Machine:
    cfg = MachineConfig(machine_type=kind, paused=paused, accel=accel, devices=[dict(d) for d in DEVICES])
    return Machine(cfg, clock=time.time, monotonic=time.monotonic)


def entries(m: Machine) -> dict[str, dict[str, Any]]:
    """query-pci's entries by qdev id, those behind bridges included."""
    m.pci_now()
    assert m.board is not None
    out: dict[str, dict[str, Any]] = {}
    todo = [d.query_pci(0) for d in m.board.root_bus.pci_devices]
    while todo:
        info = todo.pop()
        out[info["qdev_id"] or f"{info['bus']}:{info['slot']}.{info['function']}"] = info
        todo += info.get("pci_bridge", {}).get("devices", [])
    return out


def addresses(info: dict[str, Any]) -> list[int]:
    return [r["address"] for r in info["regions"]]


def test_runs_when_the_vcpus_start_and_only_when_looked_at() -> None:
    m = machine()
    assert addresses(entries(m)["e1"]) == [-1, -1]
    assert m.pci_host is not None
    m.cont()
    assert m.pci_host.pending is not None  # due, not yet carried out
    e1 = entries(m)["e1"]
    assert m.pci_host.pending is None
    assert all(a != -1 for a in addresses(e1)) and e1["irq"] == 10  # slot 2, pin A
    assert entries(m)["br"]["pci_bridge"]["bus"]["secondary"] == 1
    assert entries(m)["vn"]["bus"] == 1


def test_running_from_the_start() -> None:
    assert -1 not in addresses(entries(machine(paused=False))["e1"])


def test_qtest_accelerator_runs_no_firmware() -> None:
    m = machine(accel="qtest", paused=False)
    m.cont()
    info = entries(m)
    assert addresses(info["e1"]) == [-1, -1] and "devices" not in info["br"]["pci_bridge"]


def test_reset_undoes_it_and_the_next_run_redoes_it() -> None:
    m = machine(paused=False)
    before = entries(m)
    m.stop()
    m.system_reset()
    assert addresses(entries(m)["e1"]) == [-1, -1]  # prelaunch: the firmware has not run again
    m.cont()
    assert entries(m) == before
    m.system_reset()  # running: the firmware runs again at once
    assert entries(m) == before


def test_q35_places_mmconfig_and_numbers_root_ports() -> None:
    cfg = MachineConfig(
        machine_type="q35",
        paused=False,
        devices=[{"driver": "pcie-root-port", "id": "rp1", "chassis": "1"}, {"driver": "e1000e", "id": "ee"}],
    )
    m = Machine(cfg, clock=time.time, monotonic=time.monotonic)
    info = entries(m)
    assert info["rp1"]["pci_bridge"]["bus"]["secondary"] == 1
    assert m.pci_host is not None and m.pci_host.config_read(0, 0, 0x60, 4) == 0xB0000001


def test_a_port_the_firmware_places_answers_at_first_access() -> None:
    """The deferred set-up runs when the guest model touches a port nothing decodes yet: the PM block the
    firmware places at 0x600 answers that very access (its timer reads as a count, not all ones)."""
    for kind in ("pc", "q35"):
        cfg = MachineConfig(machine_type=kind, paused=False)
        m = Machine(cfg, clock=time.time, monotonic=time.monotonic)
        assert m.pci_host is not None and m.pci_host.pending is not None
        assert m.ioports.read(0x608, 4) != 0xFFFFFFFF
        assert m.pci_host.pending is None
