"""Differential: the devices libvirt's default domains cold-plug (virt-install's pc and q35 domains), as
libvirt writes them on the command line: their QOM, query-pci, info qtree; the balloon; the displays'
queries without a display; USB hotplug and unplug (no guest takes part: DEVICE_DELETED follows at once)
and the errors of devices on the wrong bus or on none."""

from __future__ import annotations

import json
from typing import Any

from fakeqemu.machine.block import qcow2
from tests.oracle import Script, Step, WaitEvent, call, differential_tests, script
from tests.scratch import scratch

#: libvirt's block nodes for a qcow2 disk (file + qcow2, no backing) under a virtio-blk-pci
IMAGE = scratch("fakeqemu-differential-default-devices.qcow2")
qcow2.create(str(IMAGE), 64 << 20)
DISK = [
    "-blockdev", json.dumps({"driver": "file", "filename": str(IMAGE), "node-name": "libvirt-1-storage",
                             "auto-read-only": True, "discard": "unmap"}),
    "-blockdev", json.dumps({"node-name": "libvirt-1-format", "read-only": False, "driver": "qcow2",
                             "file": "libvirt-1-storage", "backing": None}),
]  # fmt: skip


def dev(**opts: Any) -> list[str]:
    return ["-device", json.dumps(opts, separators=(",", ":"))]


def libvirt_devices(root: str, slot: int) -> list[str]:
    """What libvirt 9.0 passes for virt-install's devices (pty chardevs as null ones: no pts numbers); on
    q35 the PCIe devices sit behind root ports, video and sound on the root complex, as libvirt puts them."""
    ports = [
        arg
        for n in range(4)
        for arg in dev(
            driver="pcie-root-port",
            port=16 + n,
            chassis=1 + n,
            id=f"pci.{1 + n}",
            bus="pcie.0",
            addr=f"0x2.0x{n}",
            **({"multifunction": True} if n == 0 else {}),
        )
    ]

    def at(n: int) -> dict[str, str]:
        if root == "pcie.0" and n in (0, 1, 4, 5):
            return {"bus": f"pci.{(0, 1, 4, 5).index(n) + 1}", "addr": "0x0"}
        return {"bus": root, "addr": hex(slot + n)}

    return [
        *(ports if root == "pcie.0" else []),
        *dev(driver="qemu-xhci", p2=15, p3=15, id="usb", **at(0)),
        *dev(driver="virtio-serial-pci", id="virtio-serial0", **at(1)),
        "-chardev", "null,id=charserial0",
        *dev(driver="isa-serial", chardev="charserial0", id="serial0", index=0),
        "-chardev", "null,id=charchannel0",
        *dev(driver="virtserialport", bus="virtio-serial0.0", nr=1, chardev="charchannel0", id="channel0",
             name="org.qemu.guest_agent.0"),
        *dev(driver="usb-tablet", id="input0", bus="usb.0", port="1"),
        "-audiodev", '{"id":"audio1","driver":"none"}',
        *dev(driver="virtio-vga", id="video0", max_outputs=1, **at(2)),
        *dev(driver="intel-hda", id="sound0", **at(3)),
        *dev(driver="hda-duplex", id="sound0-codec0", bus="sound0.0", cad=0, audiodev="audio1"),
        *dev(driver="virtio-balloon-pci", id="balloon0", **at(4)),
        "-object", '{"qom-type":"rng-random","id":"objrng0","filename":"/dev/urandom"}',
        *dev(driver="virtio-rng-pci", rng="objrng0", id="rng0", **at(5)),
    ]  # fmt: skip


#: (virtio-serial0 and balloon0 are left out: fakeqemu builds them from their hot-added record, whose
#: property order differs from a cold-plugged one)
PERIPHERALS = ["usb", "serial0", "channel0", "input0", "video0", "sound0", "sound0-codec0",
               "rng0"]  # fmt: skip


def looks() -> list[Step]:
    steps: list[Step] = [*call("query-pci"), *call("human-monitor-command", {"command-line": "info qtree"})]
    steps += call("qom-list", {"path": "/machine/peripheral"})
    for name in PERIPHERALS:
        steps += call("qom-list", {"path": f"/machine/peripheral/{name}"})
    for path, prop in (("rng0", "rng"), ("rng0/virtio-backend", "rng"), ("input0", "parent_bus"),
                       ("channel0", "parent_bus"), ("serial0", "parent_bus"), ("sound0-codec0", "parent_bus"),
                       ("usb", "usb.0"), ("virtio-serial0/virtio-backend", "virtio-serial0.0")):  # fmt: skip
        if "." in prop:
            steps += call("qom-list", {"path": f"/machine/peripheral/{path}/{prop}"})
        else:
            steps += call("qom-get", {"path": f"/machine/peripheral/{path}", "property": prop})
    return steps


def balloon() -> list[Step]:
    return [
        *call("query-balloon"),
        *call("balloon", {"value": 64 << 20}),
        *call("query-balloon"),
        *call("balloon", {"value": 0}),
        *call("balloon", {"value": -5}),
        *call("balloon", {"value": 1 << 40}),
        *stats("guest-stats"),
        *stats("guest-stats-polling-interval"),
        *stats("guest-stats-polling-interval", 5),
        *stats("guest-stats-polling-interval"),
        *stats("guest-stats"),
        *stats("guest-stats-polling-interval", -1),
        *stats("guest-stats-polling-interval", "x"),
        *stats("guest-stats", 0),
        *stats("guest-stats-polling-interval", 0),
        *call("qom-get", {"path": "/machine/peripheral/balloon0/virtio-backend", "property": "guest-stats"}),
    ]


def stats(prop: str, value: Any = None) -> list[Step]:
    """qom-get, or qom-set when ``value`` is given, of a balloon property (settable while it runs)."""
    args = {"path": "/machine/peripheral/balloon0", "property": prop}
    return call("qom-get", args) if value is None else call("qom-set", {**args, "value": value})


def usb_hotplug() -> list[Step]:
    return [
        *call("device_add", {"driver": "usb-kbd", "id": "kbd0", "bus": "usb.0"}),
        *call("qom-get", {"path": "/machine/peripheral/kbd0", "property": "port"}),
        *call("qom-list", {"path": "/machine/peripheral/usb/usb.0"}),
        *call("device_del", {"id": "input0"}),
        WaitEvent("DEVICE_DELETED"),
        *call("qom-list", {"path": "/machine/peripheral/usb/usb.0"}),
        *call("device_add", {"driver": "usb-kbd", "id": "kbd1", "bus": "nosuch.0"}),
        *call("device_add", {"driver": "hda-output", "id": "c1"}),
        *call("device_add", {"driver": "usb-mouse", "id": "m1", "bus": "sound0.0"}),
        *call("device_add", {"driver": "hda-output", "id": "c1", "bus": "sound0.0"}),
        *call("device_add", {"driver": "VGA", "id": "vga1"}),
        *call("device_add", {"driver": "usb-kbd", "id": "kbd0", "bus": "usb.0"}),
    ]


SCRIPTS: list[Script] = [
    script("default-devices-pc", *looks(), *balloon(), *usb_hotplug(), machine="pc",
           extra_args=libvirt_devices("pci.0", 3)),
    script("default-devices-q35", *looks(), *balloon(), machine="q35",
           extra_args=libvirt_devices("pcie.0", 3)),
    script("no-balloon-no-display", *call("query-balloon"), *call("balloon", {"value": 1 << 20}),
           *call("query-vnc"), *call("query-vnc-servers"), *call("query-spice")),
    script("usb-none", *call("device_add", {"driver": "usb-tablet", "id": "t0"}), machine="q35"),
    script("blockstats", *call("query-blockstats"), *call("query-blockstats", {"query-nodes": True}),
           *call("query-blockstats", {"query-nodes": False}),
           extra_args=[*DISK, *dev(driver="virtio-blk-pci", bus="pci.0", addr="0x7", drive="libvirt-1-format",
                                   id="virtio-disk0", bootindex=1)]),
    script("isa-serial-com2", *call("qom-get", {"path": "/machine/peripheral/serial1", "property": "iobase"}),
           *call("qom-get", {"path": "/machine/peripheral/serial1", "property": "irq"}),
           *call("human-monitor-command", {"command-line": "info qtree"}),
           extra_args=["-chardev", "null,id=c0", "-device", "isa-serial,chardev=c0,id=serial0,index=0",
                       "-chardev", "null,id=c1", "-device", "isa-serial,chardev=c1,id=serial1,index=1"]),
    script("blockstats-unattached", *call("query-blockstats"), *call("query-blockstats", {"query-nodes": True}),
           extra_args=DISK),
]  # fmt: skip

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
