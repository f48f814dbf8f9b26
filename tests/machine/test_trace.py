"""fakeqemu.machine.core.trace: the catalogue, states, patterns and the lines it prints."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fakeqemu.machine.core.trace import Trace, catalogue, emitted, file_sink
from fakeqemu.machine.machine import Machine, MachineConfig
from fakeqemu.machine.plug import device_add, device_del
from fakeqemu.qmp.errors import GenericError


def collect() -> tuple[Trace, list[str]]:
    lines: list[str] = []
    return Trace(lines.append, wall=lambda: 1796002269.0445), lines


def test_catalogue_is_qemus() -> None:
    cat = catalogue()
    assert len(cat.names) == 4246
    assert cat.names[:2] == ("breakpoint_insert", "breakpoint_remove")
    assert cat.unavailable == {"qxl_interface_set_mm_time", "qxl_io_write_vga"}
    assert "guest_cpu_reset" in cat.vcpu


def test_line_formats() -> None:
    trace, lines = collect()
    trace.set_state("acpi_pci_*", True, cpus=1)
    trace("acpi_pci_up_read", 16)
    trace("acpi_pci_unplug", 4, 0)
    trace("acpi_pci_ej_write", 8, 16)
    trace("acpi_pci_sel_read", 4294967295)
    trace("monitor_qmp_respond", "0x1", "{}")  # not enabled: nothing
    assert lines == ["acpi_pci_up_read 16\n", "acpi_pci_unplug bsel: 4 slot: 0\n", "acpi_pci_ej_write 0x8 <== 16\n",
                     "acpi_pci_sel_read 4294967295\n"]  # fmt: skip
    trace.timestamps = True
    trace.set_state("qmp_exit_query_status", True, cpus=1)
    trace("qmp_exit_query_status", '{"status": "running"}', 1)
    assert lines[-1].endswith('@1796002269.044500:qmp_exit_query_status {"status": "running"} 1\n')


def test_get_state_order_and_errors() -> None:
    trace, _ = collect()
    trace.set_state("acpi_pci_up_read", True, cpus=1)
    assert trace.get_state("acpi_pci_u*", cpus=1) == [
        {"name": "acpi_pci_up_read", "state": "enabled", "vcpu": False},
        {"name": "acpi_pci_unplug_request", "state": "disabled", "vcpu": False},
        {"name": "acpi_pci_unplug", "state": "disabled", "vcpu": False},
    ]
    assert trace.get_state("nothing*", cpus=1) == []
    errors: list[tuple[Callable[[], object], str]] = [
        (lambda: trace.get_state("nonexist", cpus=1), 'unknown event "nonexist"'),
        (lambda: trace.set_state("qxl*", True, cpus=1), 'event "qxl_interface_set_mm_time" is disabled'),
        (lambda: trace.get_state("acpi_pci_up_read", cpus=1, vcpu=0), 'event "acpi_pci_up_read" is not vCPU-specific'),
        (lambda: trace.get_state("acpi_pci_up_read", cpus=0, vcpu=0), "invalid vCPU index 0"),
        (lambda: trace.get_state("acpi_pci_up_read", cpus=1, vcpu=-1), "invalid vCPU index 4294967295"),
    ]
    for call, desc in errors:
        with pytest.raises(GenericError) as exc:
            call()
        assert exc.value.desc == desc
    trace.set_state("qxl*", True, cpus=1, ignore_unavailable=True)
    assert trace.get_state("qxl_io_write_vga", cpus=1)[0]["state"] == "unavailable"


def test_vcpu_events_follow_each_vcpu() -> None:
    trace, _ = collect()
    trace.set_state("guest_cpu_reset", True, cpus=2, vcpu=1)
    assert trace.get_state("guest_cpu_reset", cpus=2)[0]["state"] == "enabled"
    assert trace.get_state("guest_cpu_reset", cpus=2, vcpu=0)[0]["state"] == "disabled"
    trace.set_state("guest_cpu_reset", False, cpus=2, vcpu=1)
    assert trace.get_state("guest_cpu_reset", cpus=2)[0]["state"] == "disabled"
    trace.set_state("guest_cpu_*", True, cpus=0)  # -M none: no vCPU to switch on
    assert all(e["state"] == "disabled" for e in trace.get_state("guest_cpu_*", cpus=0))


def test_command_line_patterns_warn() -> None:
    trace, _ = collect()
    warnings: list[str] = []
    trace.enable_option("acpi_pci_*", warnings.append)
    trace.enable_option("-acpi_pci_up_read", warnings.append)
    trace.enable_option("nonexist", warnings.append)
    trace.enable_option("nomatch*", warnings.append)
    assert warnings == ["trace event 'nonexist' does not exist"]
    assert "acpi_pci_down_read" in trace.enabled and "acpi_pci_up_read" not in trace.enabled


def test_emitted() -> None:
    served = frozenset({"query_status"})
    assert emitted("acpi_pci_ej_write", served)
    assert emitted("qmp_enter_query_status", served) and emitted("qmp_exit_query_status", served)
    assert not emitted("qmp_enter_device_del", served)
    assert not emitted("breakpoint_insert", served)


def test_machine_traces_the_unplug_path() -> None:
    """An idle VM's trace costs an empty set; -trace patterns from the config reach the pcihp block."""
    assert Machine(MachineConfig()).trace.enabled == set()
    m = Machine(MachineConfig(guest="never", trace_events=["acpi_pci_*", "-acpi_pci_ej_write"]))
    lines: list[str] = []
    m.trace.write = lines.append
    device_add(m, {"driver": "e1000", "id": "nic0", "addr": "0x5"})
    device_del(m, "nic0")
    m.ioports.write(0xAE08, 4, 0x20)
    assert lines == ["acpi_pci_unplug_request bsel: 0 slot: 5\n", "acpi_pci_eject_slot bsel: 0 slot: 5\n",
                     "acpi_pci_unplug bsel: 5 slot: 0\n"]  # fmt: skip


def test_file_sink_appends(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "log"  # type: ignore[operator]
    write = file_sink(str(path))
    write("a 1\n")
    write("b 2\n")
    assert path.read_text() == "a 1\nb 2\n"
