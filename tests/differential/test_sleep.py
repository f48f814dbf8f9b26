"""Differential: ACPI sleep states through the PM1 register block against QEMU 7.2, with qtest port I/O in
the place of the guest OS (and, before the VM first runs, of the firmware: the block's placement through
PIIX4_PM's / ICH9-LPC's configuration space, PM1_STS/EN/CNT and the timer, QEMU's splitting and widening
of accesses). Then the VM runs its firmware (QEMU under TCG runs SeaBIOS, fakeqemu its firmware model),
which places the block at 0x600; the scripts wait for that and sleep: S3
(SUSPEND, run state suspended, the registers while suspended, system_wakeup -> WAKEUP), S4 (SUSPEND_DISK,
SHUTDOWN, exit), S5 (SHUTDOWN; with -no-shutdown the VM stops). After the wake-up QEMU's SeaBIOS runs again
on its own time, so nothing after it is compared; the PM timer runs on the virtual clock and is not read."""

from __future__ import annotations

from tests.oracle import (
    Expect,
    Poll,
    Qtest,
    QtestPoll,
    Script,
    Send,
    Step,
    WaitEvent,
    WaitExit,
    call,
    cmd,
    differential_tests,
    script,
)

#: the configuration address of the PM function (bus 0: PIIX4_PM at 01.3, ICH9-LPC at 1f.0), its enable
#: register, what query-pci shows once the firmware has placed the block (pc: the PM function's interrupt
#: line; q35: the SMBus controller's I/O BAR, set up after the LPC bridge), and the enable bit
BOARDS = {"pc": (0x80000B00, 0x80, b'"irq": 9', 0x01), "q35": (0x8000F800, 0x44, b'"address": 1792', 0x80)}
BASE = 0x600


def config(machine: str, reg: int, size: int, value: int | None = None) -> list[Step]:
    op = {1: "b", 2: "w", 4: "l"}[size]
    port = hex(0xCFC + (reg & 3))
    access = Qtest(f"out{op} {port} {hex(value)}") if value is not None else Qtest(f"in{op} {port}")
    return [Qtest(f"outl 0xcf8 {hex(BOARDS[machine][0] | (reg & ~3))}"), access]


def placement(machine: str) -> list[Step]:
    return [*config(machine, 0x40, 4), *config(machine, BOARDS[machine][1], 1)]


def booted(machine: str) -> list[Step]:
    """The firmware has placed the block: its PCI set-up is done and PM1_CNT answers at 0x600 (QEMU's SeaBIOS
    moves the block there after it sets the PM function's interrupt line). Its configuration is not read
    here: the running firmware's own configuration cycles (its boot scan) share 0xcf8 with the test's."""
    return [Poll("query-pci", BOARDS[machine][2]), QtestPoll(f"inw {hex(BASE + 4)}", b"OK 0x0000")]


def pm1() -> list[Step]:
    return [Qtest(f"inw {hex(BASE + off)}") for off in (0, 2, 4)]


def flow(machine: str) -> list[Script]:
    enable = BOARDS[machine][1]
    return [
        script(
            f"sleep-{machine}-pm1-block",  # before the VM first runs: no firmware yet, the test places it
            placement(machine),
            pm1(),
            config(machine, 0x40, 4, BASE | 1),
            config(machine, enable, 1, BOARDS[machine][3]),
            placement(machine),
            pm1(),
            Qtest(f"inl {hex(BASE + 8)}"),  # the PM timer: the virtual clock has not run yet
            Qtest(f"inb {hex(BASE + 1)}"),
            Qtest(f"outw {hex(BASE + 2)} 0x0121"),
            pm1(),
            Qtest(f"inl {hex(BASE)}"),  # wider than the register: PM1_STS and PM1_EN
            Qtest(f"outb {hex(BASE + 5)} 0x24"),  # the high byte's bits land in the low byte: no sleep
            Qtest(f"inw {hex(BASE + 4)}"),
            Qtest(f"inb {hex(BASE + 5)}"),
            Qtest(f"inl {hex(BASE + 4)}"),  # PM1_CNT, then the hole after it
            Qtest(f"outw {hex(BASE)} 0xffff"),
            pm1(),
            call("system_wakeup"),
            machine=machine,
        ),
        script(
            f"sleep-{machine}-s3-and-wakeup",
            booted(machine),
            pm1(),
            Qtest(f"outw {hex(BASE + 2)} 0x0121"),
            Qtest(f"outw {hex(BASE + 4)} 0x2401"),  # SLP_EN | SLP_TYP 1: S3
            WaitEvent("SUSPEND"),
            call("query-status"),
            pm1(),
            Qtest(f"outw {hex(BASE + 4)} 0x2401"),  # S3 again while suspended: nothing
            call("query-status"),
            Send(cmd("system_wakeup")),
            Expect(2),  # WAKEUP, then the reply
            call("query-status"),
            machine=machine,
            paused=False,
        ),
        script(
            f"sleep-{machine}-s4",
            booted(machine),
            Qtest(f"outw {hex(BASE + 4)} 0x2801"),
            WaitEvent("SHUTDOWN"),
            WaitExit(20.0),
            machine=machine,
            paused=False,
        ),
        script(
            f"sleep-{machine}-s5-no-shutdown",
            booted(machine),
            Qtest(f"outw {hex(BASE + 4)} 0x2001"),
            WaitEvent("SHUTDOWN"),
            call("query-status"),
            machine=machine,
            paused=False,
            extra_args=["-no-shutdown"],
        ),
    ]


SCRIPTS: list[Script] = [*flow("pc"), *flow("q35")]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
