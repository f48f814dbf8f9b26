"""Differential: e1000e's MAC registers in BAR 0 against QEMU 7.2: the register file after reset (and after
a system_reset), what libqos's e1000e_pci_start_hw writes and reads back, and each kind of write handler
(self-clearing bits, masks, read-to-clear, EEPROM through EERD/EEWR, interrupt cause and mask registers
with and without MSI-X, aliases of the 82542 locations)."""

from __future__ import annotations

from tests.differential.test_pci_config import QUIET, cfg_read, cfg_write
from tests.oracle import Qtest, Script, Step, call, differential_tests, reset, script

BASE = 0xE0000000
DEVFN = 4 << 3
MSIX_FLAGS = 0xA2


def enable(devfn: int = DEVFN) -> list[Step]:
    """Command register: I/O, memory, master; BAR 0 (32-bit memory, 128 KiB) sized and placed at BASE."""
    return [
        *cfg_write(0, devfn, 0x04, 0x7, "w"),
        *cfg_write(0, devfn, 0x10, 0xFFFFFFFF),
        *cfg_read(0, devfn, 0x10),
        *cfg_write(0, devfn, 0x10, BASE),
    ]


def rd(offset: int) -> Step:
    return Qtest(f"readl {hex(BASE + offset)}")


def wr(offset: int, value: int) -> Step:
    return Qtest(f"writel {hex(BASE + offset)} {hex(value)}")


#: offsets read after reset: the general registers, the receive and transmit blocks, statistics, the
#: filters and management registers, RA and the 82542 aliases (0x40 RA, 0x100-0x118 RX, 0x420-0x438 TX)
WINDOWS = (
    (0x0000, 0x0120),
    (0x0400, 0x0440),
    (0x1000, 0x1040),
    (0x2160, 0x2180),
    (0x2800, 0x2840),
    (0x2900, 0x2920),
    (0x3800, 0x3840),
    (0x3900, 0x3920),
    (0x4000, 0x4140),
    (0x5000, 0x5040),
    (0x5400, 0x5410),
    (0x5B00, 0x5B70),
)


def register_dump() -> list[Step]:
    return [rd(off) for lo, hi in WINDOWS for off in range(lo, hi, 4)]


def start_hw() -> list[Step]:
    """libqos e1000e_pci_start_hw's register accesses, each written register read back."""
    return [
        rd(0x0),
        wr(0x0, 0x140241 | 0x4000000 | 0x40),
        wr(0xE4, 0x800A0908),  # E1000E_IVAR_TEST_CFG: RX0 -> 0, TX0 -> 1, other -> 2, TX_INT_EVERY_WB
        rd(0x8),
        wr(0x100, 0),
        wr(0x400, 0),
        rd(0x18),
        wr(0x18, 0x10000000),
        wr(0x3800, 0x12345678),
        wr(0x3804, 0x1),
        wr(0x3808, 0x1000),
        wr(0x3818, 0),
        wr(0x3810, 0),
        wr(0x400, 0x2),
        wr(0x2800, 0x23456789),
        wr(0x2804, 0),
        wr(0x2808, 0x1000),
        wr(0x2818, 0),
        wr(0x2810, 0),
        wr(0x5008, 0x8000),
        wr(0x100, 0x2 | 0x8 | 0x10),
        wr(0xD0, 0xFFFFFFFF),
        *[rd(off) for off in (0x0, 0x8, 0x18, 0xE4, 0x100, 0x400, 0x3800, 0x3804, 0x3808, 0x3810, 0x3818)],
        *[rd(off) for off in (0x2800, 0x2804, 0x2808, 0x2810, 0x2818, 0x5008, 0xD0, 0xC0, 0xC8)],
    ]


def handlers() -> list[Step]:
    """One or more writes of each handler kind, read back."""
    steps: list[Step] = [
        # CTRL: RST and PHY_RST; STATUS's PHYRA cleared by a write without it; forced speed and duplex
        wr(0x0, 0x80000000),
        rd(0x8),
        wr(0x8, 0x400),
        rd(0x8),
        wr(0x8, 0x0),
        rd(0x8),
        wr(0x0, 0x1800 | 0x100),
        rd(0x8),
        wr(0x0, 0x1800 | 0x1),
        rd(0x8),
        wr(0x0, 0x4),
        rd(0x8),
        rd(0x4),  # CTRL_DUP
        wr(0x4, 0x140241),
        rd(0x0),
        # CTRL_EXT self-clearing bits, SPD_BYPS making CTRL's speed count
        wr(0x18, 0xFFFFFFFF),
        rd(0x18),
        wr(0x18, 0x8000),
        wr(0x0, 0x100),
        rd(0x8),
        wr(0x18, 0),
        # masks: descriptor base, length, 16-bit heads, FCRTH/FCRTL, VET, PSRCTL with packet split on
        wr(0x3800, 0xFFFFFFFF),
        wr(0x3808, 0xFFFFFFFF),
        wr(0x3810, 0xFFFFFFFF),
        wr(0x3818, 0xFFFFFFFF),
        wr(0x2168, 0xFFFFFFFF),
        wr(0x2160, 0xFFFFFFFF),
        wr(0x38, 0xFFFFFFFF),
        wr(0x2C00, 0xFFFFFFFF),
        wr(0x2820, 0x9ABCDEF0),
        wr(0x282C, 0xFFFFFFFF),
        *[rd(off) for off in (0x3800, 0x3808, 0x3810, 0x3818, 0x2168, 0x2160, 0x38, 0x2C00, 0x2820, 0x2828)],
        rd(0x282C),
        wr(0x100, 0xC00),
        wr(0x2170, 0x3F00),
        rd(0x2170),
        wr(0x2170, 0x0102),
        rd(0x2170),
        # the 82542 aliases: RA at 0x40, RDTR at 0x108, TDBAL at 0x420
        wr(0x40, 0x11223344),
        rd(0x5400),
        wr(0x108, 0x12345),
        rd(0x2820),
        wr(0x420, 0x55555555),
        rd(0x3800),
        # EEPROM: the MAC words, the device ID, the checksum; a write, an address past the end
        *[s for addr in (0, 1, 2, 3, 11, 13, 63, 64) for s in (wr(0x14, addr << 2 | 1), rd(0x14))],
        wr(0x14, 3 << 2),
        rd(0x14),
        wr(0x102C, 0xBEEF0000 | 5 << 2 | 1),
        rd(0x14),
        rd(0x102C),
        wr(0x14, 5 << 2 | 1),
        rd(0x14),
        # EECD's read-only bits, GCR's
        wr(0x10, 0),
        rd(0x10),
        wr(0x5B00, 0),
        rd(0x5B00),
        # ITR/EITR: the register holds at least 500, the read shows the guest's value
        wr(0xC4, 100),
        rd(0xC4),
        wr(0xC4, 0x12345),
        rd(0xC4),
        wr(0xE8, 7),
        rd(0xE8),
        rd(0xF8),
        # SWSM's semaphore, statistics cleared by reading, TARC's readable bits
        wr(0x5B50, 0),
        rd(0x5B50),
        rd(0x5B50),
        wr(0x3840, 0xFFFFFFFF),
        rd(0x3840),
        wr(0x5B58, 0xFFFFFFFF),
        rd(0x5B58),
        # interrupts without MSI-X: ICS sets causes, ICR reads them once (then clear)
        wr(0xD0, 0x4),
        wr(0xC8, 0x4 | 0x10000),
        rd(0xC8),
        rd(0xC0),
        rd(0xC0),
        rd(0xC8),
        wr(0xD8, 0x4),
        rd(0xD0),
        # with MSI-X on: OTHER joins the other causes, ICR survives a read while IMS is set; ICR writes
        *cfg_write(0, DEVFN, MSIX_FLAGS, 0x8000, "w"),
        wr(0xD0, 0x1000000),
        wr(0xC8, 0x4),
        rd(0xC0),
        rd(0xC0),
        wr(0xC0, 0x1000000),
        rd(0xC0),
        wr(0xC8, 0x100000),
        wr(0x18, 0x8000000),
        wr(0xE0, 0x100000),
        rd(0xC0),
        rd(0xD0),
        wr(0xC8, 0x80),
        wr(0xC0, 0x0),
        rd(0xD0),
        rd(0xC8),
        wr(0xD8, 0xFFFFFFFF),
        rd(0xC0),
        rd(0xC0),
        rd(0xC8),
        # write-only and unknown offsets read 0, read-only ones ignore writes
        rd(0xD8),
        wr(0x4000, 0x1234),
        rd(0x4000),
        rd(0x7000),
        wr(0x7000, 1),
        rd(0x7000),
        # the I/O BAR's window: IOADDR, then IODATA reads and writes the MAC register it names
        *cfg_write(0, DEVFN, 0x18, 0xFFFFFFFF),
        *cfg_read(0, DEVFN, 0x18),
        *cfg_write(0, DEVFN, 0x18, 0xC000),
        Qtest("inl 0xc000"),
        Qtest("outl 0xc000 0x8"),
        Qtest("inl 0xc000"),
        Qtest("inl 0xc004"),
        Qtest("outl 0xc000 0x3800"),
        Qtest("outl 0xc004 0x13572468"),
        rd(0x3800),
        Qtest("inw 0xc004"),
        Qtest("inb 0xc001"),
        Qtest("inl 0xc008"),
        Qtest("outl 0xc000 0x20000"),
        Qtest("inl 0xc004"),
        Qtest("outl 0xc000 0x80000"),
        Qtest("outl 0xc004 0x1"),
        Qtest("inl 0xc004"),
        # narrower accesses reach the whole register
        Qtest(f"readb {hex(BASE + 0x9)}"),
        Qtest(f"readw {hex(BASE + 0x8)}"),
        Qtest(f"writeb {hex(BASE + 0x3801)} 0xff"),
        rd(0x3800),
    ]
    return steps


#: BAR 3 (MSI-X table at 0, PBA at 0x2000), messages into RAM at MSG + 16 x vector
MSIX, MSG = 0xE1000000, 0x200000


def msg() -> list[Step]:
    """The message words of the five vectors, and the PBA."""
    return [*(Qtest(f"readl {hex(MSG + 16 * v)}") for v in range(5)), Qtest(f"readl {hex(MSIX + 0x2000)}")]


def clear_msg() -> list[Step]:
    return [*(Qtest(f"writel {hex(MSG + 16 * v)} 0x0") for v in range(5))]


def msix_steps() -> list[Step]:
    """Causes sent as MSI-X messages (e1000e_msix_notify): IVAR's mapping as libqos sets it (RX0 -> 0,
    TX0 -> 1, other -> 2), masked vectors pending, EITR throttling (the VM is paused: a throttled vector
    waits until IMS fires the timers), EIAC's auto-clear, EIAME, PBACLR, a reset."""
    table: list[Step] = []
    for v in range(5):
        table += [
            Qtest(f"writel {hex(MSIX + 16 * v)} {hex(MSG + 16 * v)}"),
            Qtest(f"writel {hex(MSIX + 16 * v + 8)} {hex(0x100 + v)}"),
        ]
    return [
        *enable(),
        *cfg_write(0, DEVFN, 0x1C, 0xFFFFFFFF),
        *cfg_read(0, DEVFN, 0x1C),
        *cfg_write(0, DEVFN, 0x1C, MSIX),
        *cfg_write(0, DEVFN, MSIX_FLAGS, 0x8000, "w"),
        *table,
        Qtest(f"writel {hex(MSIX + 12)} 0x0"),
        Qtest(f"writel {hex(MSIX + 28)} 0x0"),
        *start_hw(),
        *msg(),
        # an "other" cause (link status change) on the masked vector 2: pending until unmasked
        wr(0xC8, 0x4),
        *msg(),
        Qtest(f"writel {hex(MSIX + 44)} 0x0"),
        *msg(),
        rd(0xC0),
        # RX queue 0 -> vector 0; again while still set: nothing new; cleared and set again: throttled
        wr(0xC8, 0x100000),
        *msg(),
        *clear_msg(),
        wr(0xC8, 0x100000),
        *msg(),
        wr(0xC0, 0x100000),
        wr(0xC8, 0x100000),
        *msg(),
        # IMS of every cause with CTRL_EXT.INT_TIMERS_CLEAR_ENA fires the throttling timers
        rd(0x18),
        wr(0x18, 0x20000000 | 0x10000000),
        wr(0xD0, 0x1F782D7),
        *msg(),
        rd(0xC0),
        rd(0xD0),
        # EIAC clears the cause it sends (and IMS without IAME); EIAME clears IAM's
        *clear_msg(),
        wr(0xDC, 0x400000),
        wr(0xE0, 0xFFFFFFFF),
        wr(0x18, 0x1000000 | 0x10000000),
        wr(0xC8, 0x400000),
        *msg(),
        rd(0xC0),
        rd(0xD0),
        rd(0xE0),
        # a masked vector's pending bit, cleared by PBACLR
        Qtest(f"writel {hex(MSIX + 28)} 0x1"),
        wr(0xD0, 0x400000),
        wr(0xC8, 0x400000),
        wr(0x18, 0x20000000 | 0x10000000),
        wr(0xD0, 0x1F782D7),
        *msg(),
        wr(0x5B68, 0x2),
        *msg(),
        rd(0x5B68),
        # a reset: table masked and cleared, nothing pending
        *reset(),
        *enable(),
        *cfg_write(0, DEVFN, 0x1C, MSIX),
        *[Qtest(f"readl {hex(MSIX + off)}") for off in range(0, 80, 4)],
        *msg(),
    ]


SCRIPTS: list[Script] = [
    script(
        "e1000e-registers",
        *call("device_add", {"driver": "e1000e", "id": "nic", "addr": "0x4", "mac": "52:54:00:ab:cd:ef"}),
        enable(),
        register_dump(),
        start_hw(),
        handlers(),
        # a reset: the register file again (the EEPROM and ITR's guest value stay)
        *reset(),
        enable(),
        register_dump(),
        wr(0x14, 5 << 2 | 1),
        rd(0x14),
        rd(0xC4),
        extra_args=QUIET,
    ),
    script(
        "e1000e-registers-msix",
        *call("device_add", {"driver": "e1000e", "id": "nic", "addr": "0x4", "mac": "52:54:00:ab:cd:ef"}),
        msix_steps(),
        extra_args=QUIET,
    ),
    script(
        "e1000e-registers-cold",
        # cold-plugged as qos-test starts it (its own MAC from the board)
        enable(),
        start_hw(),
        [s for addr in range(4) for s in (wr(0x14, addr << 2 | 1), rd(0x14))],
        rd(0x5400),
        rd(0x5404),
        extra_args=[*QUIET, "-netdev", "user,id=hs0", "-device", "e1000e,netdev=hs0,addr=04.0"],
    ),
]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
