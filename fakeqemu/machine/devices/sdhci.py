"""sdhci-pci's register block behind BAR 0 (hw/sd/sdhci.c of QEMU 7.2), with no SD card on its bus.

What the registers hold after realize and reset (sdhci_reset, sdhci_set_inserted with no card): the
capabilities (``capareg``) and maximum current (``maxcurr``) as the properties give them, the version
(vendor 0x24, spec ``sd-spec-version`` - 1) at 0xfc, the present state of an empty slot (0x1fa0000 with the
DAT and CMD line levels of an empty bus). Writes as sdhci_write for the registers that only store a value
(SDMA address, argument, interrupt status enables and signal enables, interrupt status write-1-to-clear,
ADMA error and address); the capabilities, maximum current and version are read-only. Commands, transfers,
the buffer data port, host and clock control (software reset, power) and the transfer mode register are
not modelled: writes to them are dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fakeqemu.machine.core.qdev import Device
    from fakeqemu.machine.machine import Machine

HCVER_VENDOR = 0x24
CAPAREG_DEFAULT = 0x057834B4
PRNSTS_EMPTY = 0x1FA0000
DAT_LINES, CMD_LINE = 0xF, 1  # sdbus_get_dat_lines / _cmd_line without a card
SYSAD, BLKSIZE, ARGUMENT, TRNMOD = 0x00, 0x04, 0x08, 0x0C
RSPREG0, RSPREG3, BDATA, PRNSTS = 0x10, 0x1C, 0x20, 0x24
HOSTCTL, CLKCON, NORINTSTS, NORINTSTSEN, NORINTSIGEN, ACMD12ERRSTS = 0x28, 0x2C, 0x30, 0x34, 0x38, 0x3C
CAPAB, MAXCURR, ADMAERR, ADMASYSADDR, SLOT_INT_STATUS = 0x40, 0x48, 0x54, 0x58, 0xFC
NIS_ERR = 0x8000
#: the registers sdhci_reset clears, by name
CLEARED = ("sdmasysad", "blksize", "blkcnt", "argument", "trnmod", "cmdreg", "rspreg", "hostctl1", "pwrcon",
           "blkgap", "wakcon", "clkcon", "timeoutcon", "norintsts", "errintsts", "norintstsen", "errintstsen",
           "norintsigen", "errintsigen", "acmd12errsts", "hostctl2", "admaerr", "admasysaddr")  # fmt: skip


class Sdhci:
    """One sdhci-pci: its registers."""

    def __init__(self, machine: Machine, device: Device) -> None:
        props = device.user_props
        self.device = device
        self.capareg = int(props.get("capareg", CAPAREG_DEFAULT))
        self.maxcurr = int(props.get("maxcurr", 0))
        self.version = (HCVER_VENDOR << 8) | (int(props.get("sd-spec-version", 2)) - 1)
        self.r: dict[str, int] = {}
        self.rspreg = [0, 0, 0, 0]
        self.prnsts = PRNSTS_EMPTY
        self.reset()

    def reset(self) -> None:
        """sdhci_reset: every register up to the capabilities 0, then the slot's state without a card."""
        self.r = dict.fromkeys(CLEARED, 0)
        self.rspreg = [0, 0, 0, 0]
        self.prnsts = PRNSTS_EMPTY

    def remove(self) -> None:
        pass

    def _slotint(self) -> int:
        r = self.r
        return int(bool(r["norintsts"] & r["norintsigen"] or r["errintsts"] & r["errintsigen"]))

    def _register(self, reg: int) -> int:
        """The 32-bit register at ``reg`` (a multiple of 4) as sdhci_read assembles it."""
        r = self.r
        if RSPREG0 <= reg <= RSPREG3:
            return self.rspreg[(reg - RSPREG0) >> 2]
        if reg == PRNSTS:
            return self.prnsts & ~(0xF << 20) & ~(1 << 24) | DAT_LINES << 20 | CMD_LINE << 24
        pairs = {
            SYSAD: ("sdmasysad", None, 0),
            BLKSIZE: ("blksize", "blkcnt", 16),
            ARGUMENT: ("argument", None, 0),
            TRNMOD: ("trnmod", "cmdreg", 16),
            CLKCON: ("clkcon", "timeoutcon", 16),
            NORINTSTS: ("norintsts", "errintsts", 16),
            NORINTSTSEN: ("norintstsen", "errintstsen", 16),
            NORINTSIGEN: ("norintsigen", "errintsigen", 16),
            ACMD12ERRSTS: ("acmd12errsts", "hostctl2", 16),
            ADMAERR: ("admaerr", None, 0),
        }
        if reg in pairs:
            low, high, shift = pairs[reg]
            return r[low] | (r[high] << shift if high else 0)
        if reg == HOSTCTL:
            return r["hostctl1"] | r["pwrcon"] << 8 | r["blkgap"] << 16 | r["wakcon"] << 24
        fixed = {
            CAPAB: self.capareg & 0xFFFFFFFF,
            CAPAB + 4: self.capareg >> 32,
            MAXCURR: self.maxcurr & 0xFFFFFFFF,
            MAXCURR + 4: self.maxcurr >> 32,
            ADMASYSADDR: r["admasysaddr"] & 0xFFFFFFFF,
            ADMASYSADDR + 4: r["admasysaddr"] >> 32,
            SLOT_INT_STATUS: self.version << 16 | self._slotint(),
        }
        return fixed.get(reg, 0) & 0xFFFFFFFF

    def bar_read(self, bar: int, offset: int, size: int) -> int:
        if bar != 0 or offset >= 0x100:
            return 0
        value = self._register(offset & ~3) >> (8 * (offset & 3))
        return value & ((1 << (8 * size)) - 1)

    def bar_write(self, bar: int, offset: int, size: int, value: int) -> None:
        """sdhci_write for the registers that only store: ``mask`` keeps the bytes not written."""
        if bar != 0 or offset >= 0x100:
            return
        shift = 8 * (offset & 3)
        mask = ~(((1 << (size * 8)) - 1) << shift) & 0xFFFFFFFF
        value = (value << shift) & 0xFFFFFFFF
        r = self.r
        reg = offset & ~3

        def masked(name: str, m: int, v: int, width: int) -> None:
            full = (1 << width) - 1
            r[name] = (r[name] & (m & full)) | (v & ~m & full)

        if reg == SYSAD:
            masked("sdmasysad", mask, value, 32)  # no transfer is ever in progress
        elif reg == ARGUMENT:
            masked("argument", mask, value, 32)
        elif reg == NORINTSTS:
            r["norintsts"] &= (mask | ~value) & 0xFFFF
            r["errintsts"] &= ((mask >> 16) | ~(value >> 16)) & 0xFFFF
            r["norintsts"] = r["norintsts"] | NIS_ERR if r["errintsts"] else r["norintsts"] & ~NIS_ERR
        elif reg == NORINTSTSEN:
            masked("norintstsen", mask, value, 16)
            masked("errintstsen", mask >> 16, value >> 16, 16)
            r["norintsts"] &= r["norintstsen"]
            r["errintsts"] &= r["errintstsen"]
            r["norintsts"] = r["norintsts"] | NIS_ERR if r["errintsts"] else r["norintsts"] & ~NIS_ERR
        elif reg == NORINTSIGEN:
            masked("norintsigen", mask, value, 16)
            masked("errintsigen", mask >> 16, value >> 16, 16)
        elif reg == ADMAERR:
            masked("admaerr", mask, value, 8)
        elif reg == ADMASYSADDR:
            r["admasysaddr"] = (r["admasysaddr"] & (0xFFFFFFFF00000000 | mask)) | value
        elif reg == ADMASYSADDR + 4:
            r["admasysaddr"] = (r["admasysaddr"] & (0x00000000FFFFFFFF | mask << 32)) | value << 32
