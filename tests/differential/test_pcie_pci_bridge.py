"""Differential: pcie-pci-bridge on q35 behind a pcie-root-port (QEMU 7.2's hw/pci-bridge/pcie_pci_bridge.c):
its QOM and qtree shape, query-pci and ``info pci``, the devices behind it unplugged through ACPI pcihp (the
cold-plugged bridge's secondary bus gets the ACPI handler) and through its own SHPC once hot-added, the
pending unplug a system_reset carries out, a repeated device_del, and what QEMU refuses."""

from __future__ import annotations

from tests.differential.hotplug_steps import deleted, peripheral
from tests.oracle import Qtest, Script, Step, Sync, WaitEvent, call, differential_tests, script

PORT = ["-device", "pcie-root-port,id=p1"]
BRIDGE = [*PORT, "-device", "pcie-pci-bridge,bus=p1,id=b1"]
SEL, DOWN, EJ = 0xCD0, 0xCC4, 0xCC8


def regs(bsel: int) -> list[Step]:
    return [Qtest(f"outl {hex(SEL)} {hex(bsel)}"), *(Qtest(f"inl {hex(p)}") for p in (0xCC0, DOWN, 0xCCC, SEL))]


SCRIPTS: list[Script] = [
    script(
        "pcie-pci-bridge-unplug-on-reset",
        peripheral(),
        call("qom-list", {"path": "/machine/peripheral/b1"}),
        call("qom-get", {"path": "/machine/peripheral/b1", "property": "parent_bus"}),
        call("qom-get", {"path": "/machine/peripheral/dev0", "property": "parent_bus"}),
        call("human-monitor-command", {"command-line": "info qtree"}),
        call("query-pci"),
        call("human-monitor-command", {"command-line": "info pci"}),
        call("device_del", {"id": "dev0"}),
        call("device_del", {"id": "dev0"}),
        call("system_reset"),
        WaitEvent("DEVICE_DELETED", device="dev0"),
        Sync(),
        peripheral(),
        machine="q35",
        extra_args=[*BRIDGE, "-device", "virtio-mouse-pci,bus=b1,id=dev0"],
        must=[deleted("dev0")],
    ),
]


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
