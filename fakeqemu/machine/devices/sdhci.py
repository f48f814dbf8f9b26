"""sdhci-pci's register block behind BAR 0 (hw/sd/sdhci.c of QEMU 7.2), with no SD card on its bus.

What the registers hold after realize and reset (sdhci_reset, sdhci_set_inserted with no card): the
capabilities (``capareg``) and maximum current (``maxcurr``) as the properties give them, the version
(vendor 0x24, spec ``sd-spec-version`` - 1) at 0xfc, the present state of an empty slot (0x1fa0000 with the
DAT and CMD line levels of an empty bus). Writes as sdhci_write: SDMA address, block size (limited to the
buffer) and count, argument, transfer mode and command (issued when the command's upper byte is written
and the clock is on: no card answers, so a command that expects a response times out), host control
(block gap, power that stays off without a card), clock control with its software resets (all, command,
data), interrupt status (write 1 to clear), enables and signal enables, force event, auto CMD12 error
status (host control 2 with ``uhs``), ADMA error and address; the capabilities, maximum current and version
are read-only. Data transfers are a data path and not modelled: the buffer data port reads 0 and ignores
writes (no transfer is ever in progress), and an SDMA address write that would start one stores the address
only; interrupts are not delivered (the slot interrupt status shows them).
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
NIS_CMDCMP, NIS_TRSCMP, NIS_BLKGAP, NIS_DMA, NIS_WBUFRDY, NIS_RBUFRDY, NIS_CARDINT = 1, 2, 4, 8, 0x10, 0x20, 0x100
EIS_CMDTIMEOUT, EIS_CMD12ERR, EISEN_CMDTIMEOUT = 0x1, 0x100, 0x1
FEAER = 0x50
TRNS_DMA, TRNMOD_MASK, CMD_RESPONSE, CMD_RSP_WITH_BUSY = 0x1, 0x37, 0x3, 0x3
CAPAB_SDMA = 1 << 22
POWER_ON, CLOCK_INT_EN, CLOCK_INT_STABLE, CLOCK_CHK_MASK = 0x1, 0x1, 0x2, 0x7
STOP_AT_GAP_REQ, CONTINUE_REQ = 0x1, 0x2
RESET_ALL, RESET_CMD, RESET_DATA = 0x1, 0x2, 0x4
CMD_INHIBIT = 0x1
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
        self.uhs = int(props.get("uhs", 0))
        #: sdhci_get_fifolen: the buffer a block fits in (512 << the capabilities' maximum block length)
        self.fifolen = 1 << (9 + ((self.capareg >> 16) & 3))
        self.r: dict[str, int] = {}
        self.rspreg = [0, 0, 0, 0]
        self.prnsts = PRNSTS_EMPTY
        self.reset()

    def reset(self) -> None:
        """sdhci_reset: every register up to the capabilities 0, then the slot's state without a card."""
        self.r.update(dict.fromkeys(CLEARED, 0))  # in place: a write that resets goes on with the same table
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
        """sdhci_write: ``mask`` keeps the bytes not written."""
        if bar != 0 or offset >= 0x100:
            return
        shift = 8 * (offset & 3)
        mask = ~(((1 << (size * 8)) - 1) << shift) & 0xFFFFFFFF
        value = (value << shift) & 0xFFFFFFFF
        r = self.r
        reg = offset & ~3

        def masked(name: str, m: int, v: int, width: int) -> None:
            full = (1 << width) - 1
            r[name] = (r[name] & (m & full)) | (v & full)

        if reg == SYSAD:
            masked("sdmasysad", mask, value, 32)  # no transfer is ever in progress
        elif reg == BLKSIZE:
            masked("blksize", mask, value & 0x7FFF, 16)
            masked("blkcnt", mask >> 16, value >> 16, 16)
            if r["blksize"] & 0xFFF > self.fifolen:
                r["blksize"] = (r["blksize"] & ~0xFFF) | self.fifolen
        elif reg == ARGUMENT:
            masked("argument", mask, value, 32)
        elif reg == TRNMOD:
            self._write_trnmod(mask, value)
        elif reg == HOSTCTL:
            if not mask & 0xFF0000:
                self._blkgap_write(value >> 16)
            masked("hostctl1", mask, value, 8)
            masked("pwrcon", mask >> 8, value >> 8, 8)
            masked("wakcon", mask >> 24, value >> 24, 8)
            # no card: the power stays off
            r["pwrcon"] &= ~POWER_ON
        elif reg == CLKCON:
            if not mask & 0xFF000000:
                self._reset_write(value >> 24)
            masked("clkcon", mask, value, 16)
            masked("timeoutcon", mask >> 16, value >> 16, 8)
            r["clkcon"] = (
                r["clkcon"] | CLOCK_INT_STABLE if r["clkcon"] & CLOCK_INT_EN else r["clkcon"] & ~CLOCK_INT_STABLE
            )
        elif reg == NORINTSTS:
            if r["norintstsen"] & NIS_CARDINT:
                value &= ~NIS_CARDINT
            r["norintsts"] &= (mask | ~value) & 0xFFFF
            r["errintsts"] &= ((mask >> 16) | ~(value >> 16)) & 0xFFFF
            self._error_summary()
        elif reg == NORINTSTSEN:
            masked("norintstsen", mask, value, 16)
            masked("errintstsen", mask >> 16, value >> 16, 16)
            r["norintsts"] &= r["norintstsen"]
            r["errintsts"] &= r["errintstsen"]
            self._error_summary()
        elif reg == NORINTSIGEN:
            masked("norintsigen", mask, value, 16)
            masked("errintsigen", mask >> 16, value >> 16, 16)
        elif reg == ADMAERR:
            masked("admaerr", mask, value, 8)
        elif reg == ADMASYSADDR:
            r["admasysaddr"] = (r["admasysaddr"] & (0xFFFFFFFF00000000 | mask)) | value
        elif reg == ADMASYSADDR + 4:
            r["admasysaddr"] = (r["admasysaddr"] & (0x00000000FFFFFFFF | mask << 32)) | value << 32
        elif reg == FEAER:
            r["acmd12errsts"] = (r["acmd12errsts"] | value) & 0xFFFF
            r["errintsts"] |= (value >> 16) & r["errintstsen"]
            if r["acmd12errsts"]:
                r["errintsts"] |= EIS_CMD12ERR
            if r["errintsts"]:
                r["norintsts"] |= NIS_ERR
        elif reg == ACMD12ERRSTS:
            masked("acmd12errsts", mask, value & 0xFFFF, 16)
            if self.uhs >= 1:
                masked("hostctl2", mask >> 16, value >> 16, 16)

    def _error_summary(self) -> None:
        r = self.r
        r["norintsts"] = r["norintsts"] | NIS_ERR if r["errintsts"] else r["norintsts"] & ~NIS_ERR

    def _write_trnmod(self, mask: int, value: int) -> None:
        """Transfer mode and command: writing the command's upper byte issues it (sdhci_send_command), which
        with no card on the bus gets no response."""
        r = self.r
        if not self.capareg & CAPAB_SDMA:
            value &= ~TRNS_DMA
        r["trnmod"] = (r["trnmod"] & mask & 0xFFFF) | (value & TRNMOD_MASK)
        r["cmdreg"] = (r["cmdreg"] & (mask >> 16) & 0xFFFF) | (value >> 16)
        if mask & 0xFF000000 or not self._can_issue_command():
            return
        r["errintsts"] = 0
        r["acmd12errsts"] = 0
        if r["cmdreg"] & CMD_RESPONSE:
            if r["errintstsen"] & EISEN_CMDTIMEOUT:  # no card: a timeout waiting for the response
                r["errintsts"] |= EIS_CMDTIMEOUT
                r["norintsts"] |= NIS_ERR
            if r["norintstsen"] & NIS_TRSCMP and r["cmdreg"] & CMD_RESPONSE == CMD_RSP_WITH_BUSY:
                r["norintsts"] |= NIS_TRSCMP
        if r["norintstsen"] & NIS_CMDCMP:
            r["norintsts"] |= NIS_CMDCMP

    def _can_issue_command(self) -> bool:
        """sdhci_can_issue_command: the clock on (no transfer is ever in progress)."""
        return self.r["clkcon"] & CLOCK_CHK_MASK == CLOCK_CHK_MASK

    def _blkgap_write(self, value: int) -> None:
        r = self.r
        if value & STOP_AT_GAP_REQ and r["blkgap"] & STOP_AT_GAP_REQ:
            return
        r["blkgap"] = value & STOP_AT_GAP_REQ

    def _reset_write(self, value: int) -> None:
        """sdhci_reset_write: all, the command line or the data line."""
        r = self.r
        if value == RESET_ALL:
            self.reset()
        elif value == RESET_CMD:
            self.prnsts &= ~CMD_INHIBIT
            r["norintsts"] &= ~NIS_CMDCMP
        elif value == RESET_DATA:
            r["blkgap"] &= ~(STOP_AT_GAP_REQ | CONTINUE_REQ)
            r["norintsts"] &= ~(NIS_WBUFRDY | NIS_RBUFRDY | NIS_DMA | NIS_TRSCMP | NIS_BLKGAP)
