"""Differential: hot(un)plug as each older machine type's compat properties make it (fakeqemu.machine.compat),
on versions around each switch.

- q35: up to 6.0 ICH9 has no ACPI bridge hotplug, so PCIe root ports hot-plug natively (slot capabilities,
  control and status, link status: attention button, power controller and indicator, the guest powering
  the slot off, the electromechanical interlock); 6.1 keeps ACPI but its ports are not hot-plug capable and
  reserve I/O; 3.1 and older have a 2.5 GT/s x1 root port link.
- pc: 1.7 and older have PIIX4's legacy pcihp (bus select fixed at 0, bridges through their SHPC); up to
  2.0 memory hotplug is off (and -m slots/maxmem refused); 2.9's pci-bridge has no SHPC; PIIX4_PM's
  ACPI hotplug switches set by -global (root bus, bridges).
The scripts play the guest through qtest (configuration cycles on 0xcf8/0xcfc, the pcihp block)."""

from __future__ import annotations

import subprocess

import pytest

from tests.oracle import (
    Poll,
    Qtest,
    Script,
    Step,
    Sync,
    WaitEvent,
    call,
    differential_tests,
    fakeqemu_target,
    qemu_target,
)
from tests.oracle import script as make_script

#: the PCI Express capability of a pcie-root-port (0x54) and its slot/link registers
EXP = 0x54
LNKSTA, SLTCAP, SLTCTL, SLTSTA = EXP + 0x12, EXP + 0x14, EXP + 0x18, EXP + 0x1A
PORTS = [
    "-device",
    "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x3",
    "-device",
    "pcie-root-port,id=rp2,bus=pcie.0,chassis=2,addr=0x4",
    "-device",
    "e1000e,id=cold,bus=rp2",
]
#: versions on either side of each switch (3.1|4.0 the root port link, 6.0|6.1|7.2 ACPI and the slots' HPC)
Q35 = ["pc-q35-3.1", "pc-q35-4.0", "pc-q35-6.0", "pc-q35-6.1", "pc-q35-7.2"]
#: (1.7|2.0 legacy pcihp, 2.0|2.1 memory hotplug, 2.8|2.9|7.2 the pci-bridge's SHPC)
PC = ["pc-i440fx-1.7", "pc-i440fx-2.0", "pc-i440fx-2.1", "pc-i440fx-2.8", "pc-i440fx-2.9", "pc"]


def cfg_read(slot: int, off: int, size: int = 2) -> list[Step]:
    addr = 0x80000000 | (slot << 11) | (off & 0xFC)
    return [Qtest(f"outl 0xcf8 {hex(addr)}"), Qtest(f"in{'bwl'[size // 2]} {hex(0xCFC + (off & 3))}")]


def cfg_write(slot: int, off: int, value: int, size: int = 2) -> list[Step]:
    addr = 0x80000000 | (slot << 11) | (off & 0xFC)
    return [Qtest(f"outl 0xcf8 {hex(addr)}"), Qtest(f"out{'bwl'[size // 2]} {hex(0xCFC + (off & 3))} {hex(value)}")]


def slot_regs(slot: int) -> list[Step]:
    return cfg_read(slot, SLTCAP, 4) + cfg_read(slot, SLTCTL) + cfg_read(slot, SLTSTA) + cfg_read(slot, LNKSTA)


def peripheral() -> list[Step]:
    return call("qom-list", {"path": "/machine/peripheral"})


def q35_script(machine: str) -> Script:
    native = machine <= "pc-q35-6.0"
    steps: list[Step] = [
        *slot_regs(3),
        *slot_regs(4),
        *(
            s
            for prop in ("x-native-hotplug", "io-reserve", "x-speed", "x-width", "hotplug")
            for s in call("qom-get", {"path": "/machine/peripheral/rp1", "property": prop})
        ),
        *cfg_read(3, 0x34, 1),
        *(s for off in range(0x90, 0xB0, 4) for s in cfg_read(3, off, 4)),  # the resource reserve capability
        *call("device_add", {"driver": "e1000e", "id": "nic0", "bus": "rp1"}),
        *slot_regs(3),
        *cfg_write(3, SLTCTL, 0x01C0),  # the guest powers the slot on, power indicator on
        *cfg_write(3, SLTSTA, 0x0019),  # and clears the events
        *slot_regs(3),
        *call("device_del", {"id": "nic0"}),
        *slot_regs(3),
        *call("device_del", {"id": "nic0"}),  # within the pending window (the clock stands under -S)
        *call("device_del", {"id": "cold"}),
        *slot_regs(4),
        *cfg_write(3, SLTSTA, 0x0001),
        *cfg_write(3, SLTCTL, 0x05C0),  # power off, indicator still on: nothing yet
        *slot_regs(3),
        *cfg_write(3, SLTCTL, 0x07C0),  # indicator off too: the device goes (native)
    ]
    if native:
        steps.append(WaitEvent("DEVICE_DELETED", device="nic0"))
    steps += [
        Sync(),
        *slot_regs(3),
        *peripheral(),
        *cfg_write(3, SLTCTL, 0x0FC0),  # EIC: toggles the electromechanical interlock
        *slot_regs(3),
        *call("device_add", {"driver": "e1000e", "id": "nic1", "bus": "rp1"}),
        *cfg_write(3, SLTCTL, 0x0FC0),
        *slot_regs(3),
    ]
    return make_script(f"compat-q35-{machine}", *steps, machine=machine, extra_args=PORTS)


def pc_script(machine: str) -> Script:
    regs = [Qtest(f"inl {hex(p)}") for p in (0xAE00, 0xAE04, 0xAE0C, 0xAE10)]
    return make_script(
        f"compat-pc-{machine}",
        regs,
        Qtest("outl 0xae10 0x1"),  # the bus select (fixed at 0 in legacy mode)
        regs,
        Qtest("outl 0xae10 0x0"),
        call("device_add", {"driver": "e1000", "id": "n1", "bus": "br1"}),  # SHPC: no slot 0
        call("device_add", {"driver": "e1000", "id": "n1", "bus": "br1", "addr": "0x2"}),
        call("device_add", {"driver": "pci-bridge", "id": "br2", "chassis_nr": 2, "addr": "0x6"}),
        call("device_add", {"driver": "e1000", "id": "n2", "bus": "br2", "addr": "0x1"}),
        call("device_add", {"driver": "e1000", "id": "n3", "addr": "0x7"}),
        regs,
        call("device_del", {"id": "n3"}),
        regs,
        Qtest("outl 0xae08 0x80"),
        WaitEvent("DEVICE_DELETED", device="n3"),
        Sync(),
        call("object-add", {"qom-type": "memory-backend-ram", "id": "m1", "size": 134217728}),
        call("device_add", {"driver": "pc-dimm", "id": "d1", "memdev": "m1"}),
        peripheral(),
        machine=machine,
        extra_args=["-device", "pci-bridge,id=br1,chassis_nr=1,addr=0x5"],
    )


def global_script(*settings: str) -> Script:
    """PIIX4_PM's ACPI hotplug switches set by -global (libvirt's pci-root hotplug='off' turns the root's
    off): a root bus without ACPI hotplug gets no bus selector, so the bridge's bus is 0."""
    regs = [Qtest(f"inl {hex(p)}") for p in (0xAE00, 0xAE04, 0xAE0C, 0xAE10)]
    pm = "/machine/unattached/device[18]"
    extra = ["-device", "pci-bridge,id=br1,chassis_nr=1,addr=0x5"]
    for setting in settings:
        extra += ["-global", f"PIIX4_PM.{setting}=off"]
    return make_script(
        f"compat-pc-global-{'-'.join(settings)}",
        regs,
        call("device_add", {"driver": "e1000", "id": "n3", "addr": "0x7"}),
        call("device_add", {"driver": "e1000", "id": "n1", "bus": "br1", "addr": "0x2"}),
        regs,
        Qtest("outl 0xae10 0x1"),
        regs,
        call("device_del", {"id": "n1"}),
        # the bridge's own SHPC: its slot is not powered, the device goes at once
        [WaitEvent("DEVICE_DELETED", device="n1")] if settings == ("acpi-pci-hotplug-with-bridge-support",) else [],
        Sync(),
        regs,
        call("qom-get", {"path": pm, "property": "acpi-root-pci-hotplug"}),
        call("qom-get", {"path": pm, "property": "acpi-pci-hotplug-with-bridge-support"}),
        peripheral(),
        machine="pc",
        extra_args=extra,
    )


def firmware_script(machine: str) -> Script:
    """SeaBIOS on the ports of a type: 6.1's resource reserve capability asks for an I/O window behind each
    root port, a slot that is not hot-plug capable gets no memory reserved for hotplug."""
    from tests.differential.test_firmware_pci import Q35_DEVICES

    return make_script(
        f"compat-firmware-{machine}",
        Poll("query-pci", b'"address": 4271898624'),
        call("query-pci"),
        call("human-monitor-command", {"command-line": "info pci"}),
        machine=machine,
        paused=False,
        extra_args=Q35_DEVICES,
    )


SCRIPTS = [q35_script(m) for m in Q35] + [pc_script(m) for m in PC]
SCRIPTS += [firmware_script(m) for m in ("pc-q35-6.0", "pc-q35-6.1")]
SCRIPTS += [
    global_script("acpi-root-pci-hotplug"),
    global_script("acpi-pci-hotplug-with-bridge-support"),
]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)


def _outcome(argv: list[str]) -> tuple[int, str]:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return res.returncode, res.stderr


@pytest.mark.qemu
@pytest.mark.parametrize("machine", ["pc-i440fx-1.7", "pc-i440fx-2.0", "pc-i440fx-2.1"])
@pytest.mark.parametrize("memory", ["128M,slots=2,maxmem=1G", "128M,maxmem=1G", "128M"])
def test_memory_slots_like_qemu(qemu_binary: str, machine: str, memory: str) -> None:
    """pc-i440fx-2.0 and older have no reserved memory: -m slots=/maxmem= end QEMU as the machine is built
    (a -device that does not exist ends the others, after it)."""
    args = ["-M", machine, "-display", "none", "-nodefaults", "-S", "-m", memory, "-device", "nosuch"]
    qemu = _outcome(qemu_target().command(args))
    assert qemu[0] == 1, qemu
    assert _outcome(fakeqemu_target().command(args)) == qemu
