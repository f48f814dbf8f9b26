"""Differential: the PCI device types fakeqemu builds from QEMU 7.2's records for its own qtest programs
(qos-test's pci-device nop tests, device-plug-test, device-introspect-test): cold-plugged with ``-device``
as qos-test starts them, their query-pci entries, QOM subtrees and properties; hot-adding them as QEMU
answers it. A few scripts of many devices each (each script starts QEMU three times)."""

from __future__ import annotations

from tests.oracle import Script, Step, call, differential_tests, script

GROUPS = {
    "misc": ("AC97", "ES1370", "e1000-82544gc", "e1000-82545em", "ne2k_pci", "tulip", "pcnet", "vmxnet3", "sdhci-pci"),
    "eepro100": (
        "i82550",
        "i82551",
        "i82557a",
        "i82557b",
        "i82557c",
        "i82558a",
        "i82558b",
        "i82559a",
        "i82559b",
        "i82559c",
        "i82559er",
        "i82562",
        "i82801",
    ),
    "virtio": ("virtio-iommu-pci", "virtio-mouse-pci"),
}
#: devices with a bus named after their id, which moves in the device's property table (GLib order) with the
#: name: recorded as ``dev0``, one script each
OWN_BUS = ("pci-ohci", "megasas", "tpci200", "nvme")  # fmt: skip
#: what a device needs besides its driver (an nvme without a serial is refused)
EXTRA = {"nvme": {"serial": "foo"}}


def cold(name: str, drivers: tuple[str, ...], machine: str = "pc") -> Script:
    args: list[str] = []
    steps: list[Step] = [*call("query-pci")]
    for n, driver in enumerate(drivers):
        dev_id = "dev0" if len(drivers) == 1 else f"d{n}"
        args += [
            "-device",
            f"{driver},id={dev_id},addr={n + 4:#x}{''.join(f',{k}={v}' for k, v in EXTRA.get(driver, {}).items())}",
        ]
        steps += call("qom-list", {"path": f"/machine/peripheral/{dev_id}"})
        steps += call("device-list-properties", {"typename": driver})
        steps += call("device_add", {"driver": driver, "id": f"h{n}", "addr": "0x1f", **EXTRA.get(driver, {})})
    return script(f"device-types-{machine}-{name}", steps, machine=machine, extra_args=args)


SCRIPTS: list[Script] = [cold(name, drivers) for name, drivers in GROUPS.items()]
SCRIPTS += [cold(driver, (driver,)) for driver in OWN_BUS]
SCRIPTS += [cold("q35", ("AC97", "i82559er", "virtio-mouse-pci"), machine="q35"), cold("megasas", ("megasas",), "q35")]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
