"""Differential: memory hot(un)plug against QEMU 7.2: memory backends under /objects (object-add, object-del,
query-memdev), pc-dimm's checks in QEMU's order, its QOM properties, slot and address assignment,
query-memory-devices / -size-summary / query-acpi-ospm-status, and the ACPI memory hotplug block as a guest
drives it (qtest port I/O): the slot registers, insert and remove events, _OST, the eject and DEVICE_DELETED."""

from __future__ import annotations

from tests.oracle import Qtest, Script, Step, WaitEvent, call, differential_tests, script

MEM = ["-m", "128M,slots=2,maxmem=1G"]
BASE = 0xA00
MiB = 1 << 20


def ram(backend_id: str, size: int = 128 * MiB) -> list[Step]:
    return call("object-add", {"qom-type": "memory-backend-ram", "id": backend_id, "size": size})


def dimm(dev_id: str | None, memdev: str | None, **props: object) -> list[Step]:
    args: dict[str, object] = {"driver": "pc-dimm"}
    if dev_id is not None:
        args["id"] = dev_id
    if memdev is not None:
        args["memdev"] = memdev
    return call("device_add", {**args, **props})


def slot_regs() -> list[Step]:
    """The selected slot as the DSDT reads it: address, size, proximity, flags; a byte past them."""
    return [*(Qtest(f"inl {hex(BASE + off)}") for off in range(0, 24, 4)), Qtest(f"inb {hex(BASE + 1)}")]


def flow(machine: str) -> list[Script]:
    path = "/machine/peripheral/d1"
    props = ("type", "parent_bus", "realized", "hotplugged", "hotpluggable", "memdev", "node", "addr",
             "legacy-memdev", "slot", "size")  # fmt: skip
    gpe = [Qtest("inb 0xafe0")] if machine == "pc" else []  # q35's GPE0 needs PMBASE programmed
    return [
        script(
            f"memhp-{machine}-backends-and-checks",
            call("qom-list", {"path": "/objects"}),
            ram("m1"),
            ram("m1"),
            ram("m0", 0),
            call("object-add", {"qom-type": "memory-backend-ram", "id": "m0"}),
            call("object-add", {"qom-type": "memory-backend-file", "id": "m0", "size": MiB}),
            call("object-add", {"qom-type": "memory-backend-file", "id": "f1", "size": 128 * MiB, "mem-path": "/tmp"}),
            call("qom-list", {"path": "/objects/f1"}),
            ram("m3", 3 * MiB),
            ram("big", 1024 * MiB),
            call("qom-list", {"path": "/objects/m1"}),
            call("qom-list", {"path": "/objects/m1/m1[0]"}),
            call("query-memdev"),
            call("object-del", {"id": "zz"}),
            dimm("dx", None),
            dimm("dx", "nope"),
            dimm("dx", "m3"),
            dimm("dx", "big"),
            dimm("dx", "m1", addr=4294967297),
            dimm("dx", "m1", node=1),
            dimm("dx", "m1", foo=1),
            dimm("dx", "m1", slot="x"),
            dimm("dx", "m1", slot=5),
            dimm("dx", "m1", bus="pci.0"),
            dimm("d1", "m1", addr=5 << 30),
            dimm("d1", "f1"),
            dimm("dx", "m1"),
            dimm("dx", "f1", addr=5 << 30),
            dimm("dx", "f1", slot=0),
            *(s for p in props for s in call("qom-get", {"path": path, "property": p})),
            call("qom-list", {"path": path}),
            ram("m4"),
            dimm(None, "m4"),
            ram("m5"),
            dimm(None, "m5"),
            call("query-memory-devices"),
            call("query-memory-size-summary"),
            call("query-acpi-ospm-status"),
            call("object-del", {"id": "m1"}),
            call("object-del", {"id": "m3"}),
            call("query-memdev"),
            machine=machine,
            extra_args=MEM,
        ),
        script(
            f"memhp-{machine}-registers-and-unplug",
            slot_regs(),
            ram("m1"),
            dimm("d1", "m1"),
            ram("m2"),
            dimm("d2", "m2"),
            gpe,
            slot_regs(),
            Qtest(f"outl {hex(BASE)} 0x1"),
            slot_regs(),
            Qtest(f"outb {hex(BASE + 0x14)} 0x2"),  # clear slot 1's insert event
            Qtest(f"inb {hex(BASE + 0x14)}"),
            Qtest(f"outl {hex(BASE + 4)} 0x1"),  # _OST(1, 0): inserted
            Qtest(f"outl {hex(BASE + 8)} 0x0"),
            WaitEvent("ACPI_DEVICE_OST"),  # sent as the write is handled: read before the next reply
            call("query-acpi-ospm-status"),
            call("device_del", {"id": "d1"}),
            call("device_del", {"id": "d1"}),
            Qtest(f"outl {hex(BASE)} 0x0"),
            Qtest(f"inl {hex(BASE + 0x14)}"),
            Qtest(f"outb {hex(BASE + 0x14)} 0x4"),  # clear the remove event
            Qtest(f"inl {hex(BASE + 0x14)}"),
            Qtest(f"outl {hex(BASE)} 0x7"),  # a slot past the last: ignored
            Qtest(f"outb {hex(BASE + 0x14)} 0x8"),
            Qtest(f"inl {hex(BASE)}"),
            Qtest(f"outl {hex(BASE)} 0x0"),
            Qtest(f"outb {hex(BASE + 0x14)} 0x8"),  # _EJ0
            WaitEvent("DEVICE_DELETED"),
            slot_regs(),
            Qtest(f"outb {hex(BASE + 0x14)} 0x8"),  # an empty slot: nothing
            call("query-memory-devices"),
            call("query-memory-size-summary"),
            call("query-acpi-ospm-status"),
            call("object-del", {"id": "m1"}),
            ram("m3"),
            dimm("d3", "m3"),
            call("query-memory-devices"),
            machine=machine,
            extra_args=MEM,
        ),
    ]


SCRIPTS: list[Script] = [
    *flow("pc"),
    *flow("q35"),
    script(
        "memhp-pc-no-slots",
        call("device-list-properties", {"typename": "pc-dimm"}),
        call("human-monitor-command", {"command-line": "device_add pc-dimm,help"}),
        ram("m1"),
        dimm("d1", "m1"),
        Qtest(f"inl {hex(BASE)}"),
        call("query-acpi-ospm-status"),
        call("query-memory-size-summary"),
    ),
    script("memhp-q35-ram-size", call("query-memdev"), machine="q35", extra_args=["-m", "256M"]),
    script(
        "memhp-pc-slots-no-room",
        ram("m1", 256 * MiB),
        dimm("d1", "m1"),
        machine="pc",
        extra_args=["-m", "512M,slots=1,maxmem=640M"],
    ),
]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
