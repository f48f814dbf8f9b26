"""Differential: the queries about a VM's fixed parts and the subsystems fakeqemu has no model of
(fakeqemu.commands.queries), on each board, and those answered from the VM's own state: query-mice with
USB input devices cold- and hot-plugged and unplugged, query-rx-filter with NICs of each kind."""

from __future__ import annotations

from fakeqemu.commands.queries import BY_ACCEL, FIXED
from tests.oracle import Script, Step, WaitEvent, call, differential_tests, script

#: every query of the module; on a VM with nothing plugged
ALL = (
    *FIXED, *BY_ACCEL, "query-display-options", "query-mice", "query-rx-filter", "x-debug-query-block-graph",
    "x-query-usb", "x-query-roms", "x-query-ramblock", "query-acpi-ospm-status",
)  # fmt: skip


def each(*names: str) -> list[Step]:
    return [step for name in names for step in call(name)]


SCRIPTS: list[Script] = [
    script(f"queries-{machine}", each(*ALL), machine=machine)
    for machine in ("none", "pc", "q35", "isapc", "microvm", "x-remote")
]
SCRIPTS += [
    script(
        "queries-mice-usb",
        call("query-mice"),
        call("device_add", {"driver": "usb-mouse", "id": "m1"}),
        call("query-mice"),
        call("device_del", {"id": "m1"}),
        WaitEvent("DEVICE_DELETED", device="m1"),
        call("query-mice"),
        call("device_add", {"driver": "usb-mouse", "id": "m2"}),
        call("query-mice"),
        extra_args=["-device", "qemu-xhci,id=usb", "-device", "usb-kbd", "-device", "usb-tablet,id=t1"],
    ),
    script(
        "queries-rx-filter",
        call("query-rx-filter"),
        call("query-rx-filter", {"name": "n1"}),
        call("query-rx-filter", {"name": "n2"}),
        call("query-rx-filter", {"name": "nosuch"}),
        call("device_add", {"driver": "virtio-net-pci", "addr": "0x6"}),
        call("device_add", {"driver": "virtio-net-pci", "id": "n3", "mac": "52:54:00:aa:bb:cc", "addr": "0x7"}),
        call("query-rx-filter"),
        call("query-rx-filter", {"name": "virtio-net-pci.1"}),
        extra_args=["-device", "virtio-net-pci,id=n1,addr=0x4", "-device", "e1000,id=n2,addr=0x5"],
    ),
    script(
        "queries-accel-kvm-none",
        each(*BY_ACCEL),
        machine="none",
        extra_args=["-accel", "kvm"],
    ),
]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
