"""Differential: the pcihp register block itself (reads, widths, selects, writes to read-only registers)."""

from __future__ import annotations

from tests.oracle import Qtest, Script, Step, Sync, call, differential_tests, script


def reads(base: int, width: str = "l", count: int = 6) -> list[Step]:
    """in<width> of each 4-byte register of the block (up, down, eject, removable, bsel, acpi-index)."""
    return [Qtest(f"in{width} {hex(base + 4 * i)}") for i in range(count)]


def block(base: int, name: str, machine: str, extra: list[str]) -> list[Script]:
    up, down, ej, rmv, sel, aidx = (base + 4 * i for i in range(6))
    return [
        script(
            f"pcihp-{name}-initial",
            reads(base),
            reads(base, "w"),
            reads(base, "b"),
            [Qtest(f"inb {hex(rmv + i)}") for i in range(1, 4)],
            [Qtest(f"inw {hex(rmv + 2)}"), Qtest(f"inl {hex(base + 0x18)}"), Qtest(f"inl {hex(base - 4)}")],
            machine=machine,
            extra_args=extra,
        ),
        script(
            f"pcihp-{name}-select",
            [Qtest(f"outl {hex(sel)} {v}") for v in ("0x1", "0xff", "0x100", "0xffffffff")],
            reads(base),
            Qtest(f"outb {hex(sel)} 0x2"),
            Qtest(f"inl {hex(sel)}"),
            Qtest(f"outw {hex(sel)} 0x103"),
            Qtest(f"inl {hex(sel)}"),
            Qtest(f"outl {hex(sel)} 0x0"),
            Qtest(f"inl {hex(sel)}"),
            machine=machine,
            extra_args=extra,
        ),
        script(
            f"pcihp-{name}-writes-to-read-only",
            [Qtest(f"outl {hex(r)} 0xffffffff") for r in (up, down, rmv)],
            reads(base),
            Qtest(f"outl {hex(aidx)} 0x5"),
            Qtest(f"inl {hex(aidx)}"),
            Qtest(f"outl {hex(ej)} 0x0"),
            Sync(),
            reads(base),
            call("query-pci"),
            machine=machine,
            extra_args=extra,
        ),
        script(
            f"pcihp-{name}-up-read-clears",
            call(
                "device_add",
                {
                    "driver": "e1000e" if machine == "q35" else "e1000",
                    "id": "nic0",
                    **({"bus": "rp1"} if machine == "q35" else {"addr": "0x9"}),
                },
            ),
            Qtest(f"inb {hex(up + 1)}"),
            Qtest(f"inl {hex(up)}"),
            Qtest(f"inl {hex(up)}"),
            call("device_del", {"id": "nic0"}),
            Qtest(f"inw {hex(down)}"),
            Qtest(f"inl {hex(down)}"),
            Qtest(f"inl {hex(down)}"),
            Qtest(f"inl {hex(up)}"),
            Qtest(f"outl {hex(sel)} 0x7"),
            Qtest(f"inl {hex(down)}"),
            Qtest(f"outl {hex(sel)} 0x0"),
            Qtest(f"inl {hex(aidx)}"),
            machine=machine,
            extra_args=extra,
        ),
    ]


SCRIPTS: list[Script] = [
    *block(0xAE00, "pc", "pc", []),
    *block(0x0CC0, "q35", "q35", ["-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x3"]),
]


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
