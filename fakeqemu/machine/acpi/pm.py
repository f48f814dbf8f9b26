"""The ACPI PM1 register block of PIIX4_PM (pc) and ICH9-LPC (q35): hw/acpi/core.c, piix4.c, ich9.c.

The block sits where firmware puts it through the PCI function's configuration space: PIIX4_PM's PMBA
(0x40, base & 0xffc0) enabled by PMREGMISC (0x80 bit 0); ICH9-LPC's PMBASE (0x40, base & 0xff80) enabled
by ACPI_CNTL (0x44 bit 7), which also moves GPE0 to PMBASE+0x20. The firmware model programs them
(fakeqemu.machine.pci.firmware: 0x600 on both boards, as QEMU's SeaBIOS); under the qtest accelerator
no firmware runs and the test does.

    +0 PM1_STS  (16 bits, write 1 to clear): TMR_STS (the PM timer's bit 23 toggled since last cleared),
                PWRBTN_STS, WAK_STS (set on wake-up, with PWRBTN_STS for a system_wakeup)
    +2 PM1_EN   (16 bits)
    +4 PM1_CNT  (16 bits): SLP_TYP (bits 10-12) with SLP_EN (bit 13) puts the system to sleep: 0 powers
                off (SHUTDOWN guest-shutdown), 1 is S3 (SUSPEND, run state suspended), 2 is S4 (SUSPEND_DISK,
                then power off)
    +8 PM_TMR   (24 bits of a 3.579545 MHz count of QEMU_CLOCK_VIRTUAL)

Accesses are split and widened as QEMU's memory core does it for these regions (valid sizes 1-2, 1-4
for the timer; implemented as 2 and 4 bytes): a 32-bit read of PM1_STS is PM1_STS and PM1_EN, a byte
write to PM1_CNT's high byte is a write of that byte to PM1_CNT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakeqemu.machine.core.ioport import PortRegion

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

PM_TIMER_FREQUENCY = 3579545
TMR_STS, PWRBTN_STS, WAK_STS = 0x0001, 0x0100, 0x8000
SLP_EN = 1 << 13
SLP_TYP_S5, SLP_TYP_S3, SLP_TYP_S4 = 0, 1, 2
#: the enable register in configuration space, its bit, the base's address mask, the block's length
_BOARD = {"pc": (0x80, 0x01, 0xFFC0, 64), "q35": (0x44, 0x80, 0xFF80, 128)}
PM1_LEN = 12
#: the PCI function whose configuration space places the block
PM_DEVICE = {"pc": "PIIX4_PM", "q35": "ICH9-LPC"}


class AcpiPm:
    """One VM's PM1 block, the model of its PIIX4_PM / ICH9-LPC function's configuration registers."""

    __slots__ = ("base", "cnt", "config", "en", "enable", "kind", "machine", "overflow_ticks", "sts")

    def __init__(self, machine: Machine, kind: str) -> None:
        self.machine = machine
        self.kind = kind
        #: configuration bytes 0x40-0x43 (the base) and the enable register's byte
        self.config = bytearray((1, 0, 0, 0))
        self.enable = 0
        #: where the block is mapped now (None: not mapped)
        self.base: int | None = None
        self.sts = 0
        self.en = 0
        self.cnt = 0
        self.overflow_ticks = 0

    # --- configuration space (the function's model: pm_write_config, ich9_lpc_config_write) ---------

    def config_read(self, addr: int, size: int) -> int | None:
        reg, _, _, _ = _BOARD[self.kind]
        if addr >= 0x40 and addr + size <= 0x44:
            return int.from_bytes(self.config[addr - 0x40 : addr - 0x40 + size], "little")
        if addr == reg and size == 1:
            return self.enable
        return None

    def config_write(self, addr: int, size: int, value: int) -> bool:
        reg, _, mask, _ = _BOARD[self.kind]
        if addr >= 0x40 and addr + size <= 0x44:
            data = bytearray(self.config)
            data[addr - 0x40 : addr - 0x40 + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            if self.kind == "q35":  # only the base address bits are writable; bit 0 (I/O space) reads 1
                word = int.from_bytes(data, "little") & mask | 1
                data = bytearray(word.to_bytes(4, "little"))
            data[0] |= 1
            self.config = data
        elif addr == reg and size == 1:
            self.enable = value & 0xFF
        else:
            return False
        self._update()
        return True

    def _update(self) -> None:
        """pm_io_space_update / ich9_pm_iospace_update: map the block where the registers say."""
        _, bit, mask, _ = _BOARD[self.kind]
        base = int.from_bytes(self.config, "little") & mask
        where = base if self.enable & bit else None
        if where == self.base:
            return
        io = self.machine.ioports
        if self.base is not None:
            io.unmap("acpi-pm1")
        self.base = where
        if where is not None:
            io.map(PortRegion("acpi-pm1", where, PM1_LEN, self.read, self.write))
        hp = self.machine.pcihp
        if self.kind == "q35" and hp is not None:  # GPE0 is part of ICH9's PM block
            from fakeqemu.machine.acpi.pcihp import map_ich9_pmbase

            if where is not None:
                map_ich9_pmbase(self.machine, hp, where)
            else:
                io.unmap(hp.gpe.name)
                hp.gpe.base = None

    def reset(self) -> None:
        """piix4_pm_reset / ich9_lpc_reset + acpi_pm1_*_reset: the block is unmapped, its registers clear.
        PIIX4 resets only the base's low byte (the rest stays as firmware left it)."""
        if self.kind == "q35":
            self.config = bytearray((1, 0, 0, 0))
        else:
            self.config[0] = 1
        self.enable = 0
        self._update()
        self.sts = self.en = self.cnt = 0
        self.overflow_ticks = 0

    def woke(self) -> None:
        """acpi_notify_wakeup for a system_wakeup (QEMU_WAKEUP_REASON_OTHER): as if the power button woke it."""
        self.sts |= WAK_STS | PWRBTN_STS

    # --- the registers --------------------------------------------------------------------------------

    def _ticks(self) -> int:
        return self.machine.vclock.now_ns() * PM_TIMER_FREQUENCY // 1_000_000_000

    def _status(self) -> int:
        """acpi_pm1_evt_get_sts: TMR_STS once the virtual clock has passed the next overflow."""
        if self.machine.vclock.now_ns() >= self.overflow_ticks * 1_000_000_000 // PM_TIMER_FREQUENCY:
            self.sts |= TMR_STS
        return self.sts

    @staticmethod
    def _pieces(offset: int, size: int) -> list[tuple[int, int]]:
        """How QEMU's memory core splits an access over the block's regions (memory_access_size): at
        most 2 bytes in PM1_STS/EN (0-3) and PM1_CNT (4-5), 4 in the timer (8-11), aligned; 6-7 is a hole."""
        out = []
        done = 0
        while done < size:
            off = offset + done
            most = 4 if off >= 8 else 2
            n = min(size - done, most, (off & -off) or most)
            n = 1 << (n.bit_length() - 1)
            out.append((off, n))
            done += n
        return out

    def read(self, offset: int, size: int) -> int:
        """Each piece from its region's handler (acpi_pm_evt_read: 0 at an odd address; the others
        ignore the address), cut to the piece's width."""
        value = 0
        shift = 0
        for off, n in self._pieces(offset, size):
            if off < 4:
                word = off & ~1
                got = (self._status() if off == 0 else self.en if off == 2 else 0) if off == word else 0
            elif off < 6:
                got = self.cnt
            elif off < 8:
                got = -1  # unassigned: all ones
            else:
                got = self._ticks() & 0xFFFFFF
            value |= (got & ((1 << (8 * n)) - 1)) << shift
            shift += 8 * n
        return value

    def write(self, offset: int, size: int, value: int) -> None:
        """Each piece to its region's handler (acpi_pm_evt_write acts at 0 and 2 only; the timer is
        read-only), with the piece's own bytes of the value."""
        shift = 0
        for off, n in self._pieces(offset, size):
            piece = (value >> shift) & ((1 << (8 * n)) - 1)
            shift += 8 * n
            if off == 0:
                if self._status() & piece & TMR_STS:
                    self.overflow_ticks = (self._ticks() + 0x800000) & ~0x7FFFFF
                self.sts &= ~piece
            elif off == 2:
                self.en = piece
            elif 4 <= off < 6:
                self._cnt_write(piece)

    def _cnt_write(self, value: int) -> None:
        """acpi_pm1_cnt_write: SLP_EN acts on SLP_TYP; the requests are handled by the main loop, after
        the write returns."""
        self.cnt = value & ~SLP_EN
        if not value & SLP_EN:
            return
        typ = (value >> 10) & 7
        machine = self.machine
        if typ == SLP_TYP_S5:
            machine.timers.call_later(0, lambda: machine.shutdown("guest-shutdown", guest=True))
        elif typ == SLP_TYP_S3 and machine.runstate != "suspended":  # qemu_system_suspend_request
            machine.timers.call_later(0, machine.suspend)
        elif typ == SLP_TYP_S4:  # s4_val: the image is written, SUSPEND_DISK now, then power off
            machine.events.emit("SUSPEND_DISK")
            machine.timers.call_later(0, lambda: machine.shutdown("guest-shutdown", guest=True))

    def sleep(self, typ: int) -> bool:
        """The guest OS enters a sleep state through the register; False when the block is not mapped."""
        self.machine.pci_now()  # what the firmware has done by now
        if self.base is None:
            return False
        self.machine.ioports.write(self.base + 4, 2, (typ << 10) | SLP_EN)
        return True
