"""The guest model on machine types whose compat changes what their guest does: up to 2.6 the ACPI tables keep
the legacy CPU hotplug interface (the guest never switches to the modern one, so a CPU cannot be unplugged:
QEMU's 'acpi: device unplug request for not supported device type'), from 2.7 the guest switches."""

from __future__ import annotations

import pytest

from fakeqemu.machine.core.qdev import Device
from fakeqemu.machine.cpus import Topology
from fakeqemu.machine.machine import Machine, MachineConfig
from fakeqemu.qmp.errors import GenericError

CPU = {"driver": "qemu64-x86_64-cpu", "id": "c1", "socket-id": 1, "core-id": 0, "thread-id": 0}


def machine(kind: str, name: str) -> Machine:
    topo = Topology.parse({"cpus": "1", "maxcpus": "2"})
    cfg = MachineConfig(machine_type=kind, machine_name=name, qtest=False, guest="prompt", topology=topo, smp=1)
    return Machine(cfg, monotonic=lambda: 0.0)


@pytest.mark.parametrize(("kind", "name"), [("pc", "pc-i440fx-2.6"), ("q35", "pc-q35-2.6")])
def test_legacy_cpu_hotplug_up_to_2_6(kind: str, name: str) -> None:
    m = machine(kind, name)
    assert m.cpus.cpuhp is not None and m.cpus.cpuhp.legacy
    m.cpus.device_add(dict(CPU))
    m.timers.run_due()  # the guest scans the legacy bitmap
    assert m.cpus.cpuhp.legacy and m.guest.actions[-1][0] == "cpu-online"
    dev = m.board.peripheral.children["c1"] if m.board is not None else None
    assert isinstance(dev, Device)
    with pytest.raises(GenericError, match="not supported device type: qemu64-x86_64-cpu"):
        m.cpus.device_del(dev)
    m.close()


@pytest.mark.parametrize(("kind", "name"), [("pc", "pc-i440fx-2.7"), ("q35", "pc-q35-2.7"), ("pc", "")])
def test_modern_cpu_hotplug_from_2_7(kind: str, name: str) -> None:
    m = machine(kind, name)
    assert m.cpus.cpuhp is not None and not m.cpus.cpuhp.legacy
    m.close()
