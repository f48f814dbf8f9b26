"""Differential: USB hot-plug and unplug on each controller libvirt's domains use (pc's -usb and
piix3-usb-uhci, q35's qemu-xhci): where device_add puts usb-tablet / usb-kbd / usb-mouse / usb-storage
with and without bus and port (query-pci, info usb, info qtree, qom-get of ``port``), device_del and its
immediate DEVICE_DELETED (no guest takes part; usb-storage's SCSI child goes first), the errors (a taken,
bad or missing port, a bus that does not exist, a full bus) and re-adding to a freed port."""

from __future__ import annotations

from typing import Any

from tests.oracle import Script, Step, WaitEvent, call, differential_tests, script

DRIVES = ["-drive", "if=none,id=d0,file=null-co://", "-drive", "if=none,id=d1,file=null-co://"]


def add(driver: str, id: str, **opts: Any) -> list[Step]:
    return call("device_add", {"driver": driver, "id": id, **opts})


def port(*ids: str) -> list[Step]:
    return [s for i in ids for s in call("qom-get", {"path": f"/machine/peripheral/{i}", "property": "port"})]


def hmp(line: str) -> list[Step]:
    return call("human-monitor-command", {"command-line": line})


def looks() -> list[Step]:
    return [*hmp("info usb"), *hmp("info qtree"), *call("query-pci")]


def unplug(id: str, events: int = 1) -> list[Step]:
    return [*call("device_del", {"id": id}), WaitEvent("DEVICE_DELETED", count=events)]


def uhci(bus: str, qtree: bool = True) -> list[Step]:
    """A two-port UHCI bus: two devices fill it, a third finds no port (``info qtree`` left out for the
    board's own controller: fakeqemu lists it before PIIX4_PM, QEMU after)."""
    looks = globals()["looks"] if qtree else lambda: hmp("info usb")
    return [
        *add("usb-tablet", "t0"),
        *add("usb-kbd", "k0", bus=bus, port="2"),
        *port("t0", "k0"),
        *looks(),
        *add("usb-mouse", "m0"),
        *add("usb-mouse", "m1", bus=bus),
        *add("usb-mouse", "m2", bus=bus, port="1"),
        *add("usb-mouse", "m3", bus=bus, port="3"),
        *add("usb-mouse", "m4", bus=bus, port="x"),
        *add("usb-mouse", "m5", bus="nosuch.0"),
        *add("usb-mouse", "m6", bus=bus, port="0"),
        *unplug("t0"),
        *hmp("info usb"),
        *add("usb-mouse", "m7", bus=bus, port="1"),
        *port("m7"),
        *unplug("k0"),
        *add("usb-tablet", "t1", bus=bus, port="2"),
        *port("t1"),
        *looks(),
        *unplug("t1"),
        *unplug("m7"),
        *add("usb-storage", "s0", drive="d0", bus=bus, port="2"),
        *port("s0"),
        *hmp("info usb"),
        *unplug("s0", 2),
        *add("usb-storage", "s1", drive="d0"),
        *add("usb-storage", "s2", drive="d1", port="1"),
        *hmp("info usb"),
    ]


def xhci(bus: str) -> list[Step]:
    """An eight-port XHCI bus (p2=8, p3=8: each port serves both speeds)."""
    return [
        *add("usb-tablet", "t0"),
        *add("usb-kbd", "k0", bus=bus, port="3"),
        *add("usb-mouse", "m0", bus=bus),
        *add("usb-storage", "s0", drive="d0", bus=bus, port="9"),
        *add("usb-storage", "s0", drive="d0", bus=bus, port="4"),
        *add("usb-storage", "s1", drive="d1"),
        *port("t0", "k0", "m0", "s0", "s1"),
        *looks(),
        *add("usb-mouse", "m1", bus=bus, port="3"),
        *add("usb-mouse", "m3", bus=bus, port="1.1"),
        *add("usb-mouse", "m4", bus="usb.1"),
        *add("usb-storage", "s2", drive="d0"),
        *add("usb-storage", "s3", drive="nosuch"),
        *unplug("s1", 2),
        *unplug("k0"),
        *hmp("info usb"),
        *add("usb-kbd", "k1", bus=bus, port="3"),
        *add("usb-tablet", "t1"),
        *add("usb-tablet", "t2"),
        *add("usb-tablet", "t3"),
        *add("usb-tablet", "t4", port="8"),
        *add("usb-tablet", "t4", port="5"),
        *add("usb-tablet", "t5"),
        *port("k1", "t1", "t2", "t3", "t4"),
        *looks(),
        *call("device_del", {"id": "nosuch"}),
        *unplug("t0"),
        *add("usb-tablet", "t6", port="1"),
        *port("t6"),
        *hmp("info usb"),
    ]


SCRIPTS: list[Script] = [
    script("usb-hotplug-pc-usb", *uhci("usb-bus.0", qtree=False), machine="pc", extra_args=["-usb", *DRIVES]),
    script("usb-hotplug-pc-uhci", *uhci("uhci.0"), machine="pc",
           extra_args=["-device", "piix3-usb-uhci,id=uhci", *DRIVES]),
    script("usb-hotplug-q35-xhci", *xhci("usb.0"), machine="q35",
           extra_args=["-device", "qemu-xhci,id=usb,p2=8,p3=8", *DRIVES]),
]  # fmt: skip

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
