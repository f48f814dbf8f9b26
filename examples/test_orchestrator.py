"""The orchestrator's test suite, on fakeqemu through its pytest plugin: no fixtures of its own."""

from __future__ import annotations

import pytest

from examples.orchestrator import Orchestrator, OrchestratorError
from fakeqemu.testing import FakeQemu

pytestmark = pytest.mark.fakeqemu(rcu_grace_ms=0)


def test_hotplug_and_unplug(fakeqemu_vm: FakeQemu) -> None:
    orch = Orchestrator(fakeqemu_vm.qmp_path)
    orch.hotplug_nic("net0")
    assert "net0" in orch.devices()
    assert orch.unplug("net0", timeout=5)
    assert "net0" not in orch.devices()
    orch.close()
    # traffic assertions: what the orchestrator sent, and what fakeqemu answered
    assert fakeqemu_vm.commands() == ["qmp_capabilities", "device_add", "query-pci", "device_del", "query-pci"]
    (request, reply) = fakeqemu_vm.traffic(command="device_add")
    assert request.message["arguments"] == {"driver": "virtio-net-pci", "id": "net0"}
    assert reply.message == {"return": {}}


@pytest.mark.fakeqemu(guest="never")
def test_unplug_times_out_and_retries_until_the_guest_ejects(fakeqemu_vm: FakeQemu) -> None:
    orch = Orchestrator(fakeqemu_vm.qmp_path)
    orch.hotplug_nic("net0")
    assert not orch.unplug("net0", timeout=0.05, retries=2)
    assert fakeqemu_vm.commands().count("device_del") == 3
    # on pc (ACPI hotplug) QEMU 7.2 takes a repeated request; each one only raised the guest's event again
    replies = [r.message for r in fakeqemu_vm.traffic(command="device_del") if r.direction == "out"]
    assert replies == [{"return": {}}] * 3
    fakeqemu_vm.eject("net0")  # the guest wakes up: the orchestrator, still waiting, sees the device go
    assert orch.wait_event("DEVICE_DELETED", timeout=5, device="net0") is not None
    assert "net0" not in orch.devices()
    orch.close()


@pytest.mark.fakeqemu(guest="refuse")
def test_a_refusing_guest_keeps_the_device(fakeqemu_vm: FakeQemu) -> None:
    orch = Orchestrator(fakeqemu_vm.qmp_path)
    orch.hotplug_nic("net0")
    assert not orch.unplug("net0", timeout=0.05)
    assert "net0" in orch.devices()
    assert any("vetoed" in r.text for r in fakeqemu_vm.traffic(direction="note"))
    orch.close()


@pytest.mark.fakeqemu(guest="delay:50")
def test_a_delayed_eject_is_waited_for(fakeqemu_vm: FakeQemu) -> None:
    orch = Orchestrator(fakeqemu_vm.qmp_path)
    orch.hotplug_nic("net0")
    assert orch.unplug("net0", timeout=10)
    orch.close()


@pytest.mark.fakeqemu(faults={"close_after": 2})
def test_a_dropped_connection_is_reconnected(fakeqemu_vm: FakeQemu) -> None:
    orch = Orchestrator(fakeqemu_vm.qmp_path)  # qmp_capabilities is request 1
    orch.hotplug_nic("net0")  # request 2: answered, then the connection is closed
    with pytest.raises(ConnectionError):
        orch.devices()
    fakeqemu_vm.faults.clear()
    orch.connect()
    assert "net0" in orch.devices()
    orch.close()


@pytest.mark.fakeqemu(faults={"fail": {"device_add": {"class": "GenericError", "desc": "out of PCI slots"}}})
def test_a_failed_device_add_is_reported(fakeqemu_vm: FakeQemu) -> None:
    orch = Orchestrator(fakeqemu_vm.qmp_path)
    with pytest.raises(OrchestratorError, match="out of PCI slots"):
        orch.hotplug_nic("net0")
    assert "net0" not in orch.devices()
    orch.close()


def test_two_vms(fakeqemu_fleet: FakeQemu) -> None:
    first, second = fakeqemu_fleet.vms
    a, b = Orchestrator(first.qmp_path), Orchestrator(second.qmp_path)
    a.hotplug_nic("net0")
    assert "net0" in a.devices() and "net0" not in b.devices()
    second.kill()  # one VM of the fleet dies; the orchestrator notices, the other VM carries on
    with pytest.raises(ConnectionError):
        b.devices()
    assert a.unplug("net0", timeout=5)
    a.close()
    b.close()
