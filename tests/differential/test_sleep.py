"""Differential: ACPI sleep states through the PM1 register block against QEMU 7.2, with qtest port I/O in
the place of firmware and guest: the block's placement through PIIX4_PM's / ICH9-LPC's configuration
space, PM1_STS/EN/CNT and the timer (read while the virtual clock stands still), SLP_TYP with SLP_EN:
S3 (SUSPEND, run state suspended, system_wakeup -> WAKEUP, the reset that unmaps the block, WAK_STS), S4
(SUSPEND_DISK, SHUTDOWN) and S5 (SHUTDOWN)."""

from __future__ import annotations

from tests.oracle import Expect, Qtest, Script, Send, Step, WaitEvent, WaitExit, call, cmd, differential_tests, script

#: the configuration address of the PM function (bus 0: PIIX4_PM at 01.3, ICH9-LPC at 1f.0), the
#: enable register, its bit, and where the test (as SeaBIOS) puts the block
BOARDS = {"pc": (0x80000B00, 0x80, 0x01, 0xB000), "q35": (0x8000F800, 0x44, 0x80, 0x600)}


def config(machine: str, reg: int, size: int, value: int | None = None) -> list[Step]:
    dev = BOARDS[machine][0]
    port = 0xCFC + (reg & 3)
    op = {1: "b", 2: "w", 4: "l"}[size]
    access = Qtest(f"out{op} {hex(port)} {hex(value)}") if value is not None else Qtest(f"in{op} {hex(port)}")
    return [Qtest(f"outl 0xcf8 {hex(dev | (reg & ~3))}"), access]


def placement(machine: str) -> list[Step]:
    _, reg, _, _ = BOARDS[machine]
    return [*config(machine, 0x40, 4), *config(machine, reg, 1)]


def program(machine: str) -> list[Step]:
    _, reg, bit, base = BOARDS[machine]
    return [*config(machine, 0x40, 4, base | 1), *config(machine, reg, 1, bit)]


def pm1(machine: str) -> list[Step]:
    base = BOARDS[machine][3]
    return [Qtest(f"inw {hex(base + off)}") for off in (0, 2, 4)]


def cont() -> list[Step]:
    return [Send(cmd("cont")), Expect(2)]  # RESUME, then the reply


def flow(machine: str) -> list[Script]:
    base = BOARDS[machine][3]
    return [
        script(
            f"sleep-{machine}-s3-and-wakeup",
            placement(machine),
            pm1(machine),
            program(machine),
            placement(machine),
            pm1(machine),
            Qtest(f"inl {hex(base + 8)}"),  # the PM timer: the virtual clock has not run yet
            Qtest(f"inb {hex(base + 1)}"),
            Qtest(f"outw {hex(base + 2)} 0x0121"),
            Qtest(f"outw {hex(base + 4)} 0x0001"),
            pm1(machine),
            Qtest(f"inl {hex(base)}"),  # wider than the register allows
            call("system_wakeup"),
            cont(),
            Qtest(f"outb {hex(base + 5)} 0x24"),  # the high byte's bits land in the low byte: no sleep
            Qtest(f"inw {hex(base + 4)}"),
            Qtest(f"inb {hex(base + 5)}"),
            Qtest(f"inl {hex(base + 4)}"),  # PM1_CNT, then the hole after it
            Qtest(f"outw {hex(base + 4)} 0x2401"),  # SLP_EN | SLP_TYP 1: S3
            WaitEvent("SUSPEND"),
            call("query-status"),
            pm1(machine),
            Qtest(f"outw {hex(base + 4)} 0x2401"),  # S3 again while suspended: nothing
            Send(cmd("system_wakeup")),
            Expect(2),  # WAKEUP, then the reply
            call("query-status"),
            placement(machine),
            pm1(machine),
            call("system_wakeup"),
            program(machine),
            pm1(machine),
            machine=machine,
        ),
        script(
            f"sleep-{machine}-s4",
            program(machine),
            cont(),
            Qtest(f"outw {hex(base + 4)} 0x2801"),
            WaitEvent("SHUTDOWN"),
            WaitExit(20.0),
            machine=machine,
        ),
        script(
            f"sleep-{machine}-s5-no-shutdown",
            program(machine),
            cont(),
            Qtest(f"outw {hex(base + 4)} 0x2001"),
            WaitEvent("SHUTDOWN"),
            call("query-status"),
            machine=machine,
            extra_args=["-no-shutdown"],
        ),
    ]


SCRIPTS: list[Script] = [*flow("pc"), *flow("q35")]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
