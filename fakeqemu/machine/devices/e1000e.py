"""e1000e (Intel 82574L) MAC registers in BAR 0 as QEMU 7.2 answers them (hw/net/e1000e_core.c
e1000e_core_read/e1000e_core_write): the register file e1000e_core_reset leaves (link up at 1000 Mb/s, the
MAC in RA[0..1]), the aliases of the 82542 locations, and what each register's read and write handler does
to the registers: self-clearing CTRL.RST and CTRL_EXT bits, STATUS computed from CTRL, read-to-clear
statistics, the semaphore bit of SWSM, masked descriptor base/length/head/tail, interrupt cause and mask
registers (ICR clear-on-read rules, IMS/IMC, ICS mirroring ICR, ICR.OTHER under MSI-X, ICR.ASSERTED),
ITR/EITR with their guest values, the EEPROM through EERD/EEWR (QEMU's 82574L template with the MAC and
checksum). With MSI-X enabled, pending causes go out as e1000e_msix_notify sends them: each cause to the
vector IVAR maps it to (all five vectors used since realize), EIAC's auto-clear, EIAME, throttled per vector
by EITR (a timer on the virtual clock, EITR x 256 ns; an interrupt meanwhile waits for it), PBACLR and
IMS with CTRL_EXT.PBA_CLR clearing pending bits.

Not modelled (a data path or its interrupt delivery): packets (TDT/RDT/TCTL/RCTL start nothing; the RX/TX
delay timers), the PHY behind MDIC (a write is dropped), INTx and MSI (not MSI-X) interrupts with ITR's
throttling, the flash BAR. The I/O BAR's indirect window (IOADDR, IODATA) reaches the MAC registers.
"""

from __future__ import annotations

import bisect
import functools
from typing import TYPE_CHECKING

from fakeqemu.machine.devices.e1000e_regs import ALIASES, READS, RESET, WRITES
from fakeqemu.qmp.errors import QMPError

if TYPE_CHECKING:
    from fakeqemu.machine.core.qdev import Device
    from fakeqemu.machine.core.vclock import VirtualTimer
    from fakeqemu.machine.machine import Machine
    from fakeqemu.machine.pci.msix import Msix

# register indexes (offset / 4)
CTRL, CTRL_DUP, STATUS, EECD, EERD, CTRL_EXT, MDIC, VET = 0, 1, 2, 4, 5, 6, 8, 14
ICR, ITR, ICS, IMS, IMC, IAM, EIAC, EITR, IVAR = 48, 49, 50, 52, 54, 56, 55, 58, 57
RCTL, FCRTL, FCRTH, PSRCTL, RXDCTL, RXDCTL1 = 64, 2136, 2138, 2140, 2570, 2634
RXCSUM, RFCTL, RA, GCR, SWSM, PBACLR = 5120, 5122, 5376, 5824, 5844, 5850
TCTL, TARC0, TARC1 = 256, 3600, 3664
#: transmit queues: (TDLEN, TDH, TDT) of queue 0 and 1, 0x100 bytes apart
TX_QUEUES = ((3586, 3588, 3590), (3650, 3652, 3654))
MSIX_VECTORS = 5
MIN_XITR = 500  # E1000E_MIN_XITR
#: the I/O BAR's indirect window (E1000_IOADDR, E1000_IODATA): MAC registers below IO_MAC_LIMIT
IO_BAR, IOADDR, IODATA, IO_MAC_LIMIT = 2, 0x0, 0x4, 0x1FFFF

# bits (hw/net/e1000_regs.h)
CTRL_FD, CTRL_GIO_MASTER_DISABLE, CTRL_SPD_SEL, CTRL_SPD_100 = 0x1, 0x4, 0x300, 0x100
CTRL_FRCSPD, CTRL_FRCDPX, CTRL_RST, CTRL_PHY_RST = 0x800, 0x1000, 0x4000000, 0x80000000
STATUS_FD, STATUS_SPEED_10, STATUS_SPEED_100, STATUS_SPEED_1000 = 0x1, 0x0, 0x40, 0x80
STATUS_PHYRA, STATUS_GIO_MASTER_ENABLE = 0x400, 0x80000
CTRL_EXT_ASDCHK, CTRL_EXT_EE_RST, CTRL_EXT_SPD_BYPS, CTRL_EXT_IAME = 0x1000, 0x2000, 0x8000, 0x8000000
ICR_TXQE, ICR_OTHER, ICR_OTHER_CAUSES, ICR_ASSERTED = 0x2, 0x1000000, 0x70244, 0x80000000
TCTL_EN, TARC_ENABLE, RING_DESC_LEN = 0x2, 0x400, 16
ETH_P_VLAN = 0x8100
#: the causes MSI-X vectors carry, with the shift of each one's IVAR entry (valid bit 3, vector bits 0-2)
MSIX_CAUSES = ((0x100000, 0), (0x200000, 4), (0x400000, 8), (0x800000, 12), (ICR_OTHER, 16))
IMS_EXT_MASK = 0x1F00000
IVAR_VALID, IVAR_VEC = 0x8, 0x7
CTRL_EXT_EIAME, CTRL_EXT_PBA_CLR, CTRL_EXT_TIMERS_CLEAR = 0x1000000, 0x80000000, 0x20000000
THROTTLING_NS = 256  # E1000_INTR_THROTTLING_NS_RES
IMS_VALID = 0x1F782D7
GCR_RO_BITS, EECD_RO_BITS, RAH_AV = 0x6800000, 0x7B00, 0x80000000
RCTL_DTYP_MASK, PSRCTL_BSIZE0_MASK, PSRCTL_BSIZE1_MASK = 0xC00, 0x7F, 0x3F00
XDLEN_MASK, XDBAL_MASK, PBACLR_VALID_MASK = 0xFFF80, 0xFFFFFFF0, 0x1F
EERW_START, EERW_DONE, EERW_ADDR_SHIFT, EERW_DATA_SHIFT = 0x1, 0x2, 2, 16
EEPROM_CHECKSUM_REG, EEPROM_SUM = 0x3F, 0xBABA
DEVICE_ID = 0x10D3  # E1000_DEV_ID_82574L
#: hw/net/e1000e.c e1000e_eeprom_template (words 0-2 become the MAC, 11 and 13 the device ID, 63 the checksum)
EEPROM_TEMPLATE = (
    0x0000, 0x0000, 0x0000, 0x0420, 0xF746, 0x2010, 0xFFFF, 0xFFFF,
    0x0000, 0x0000, 0x026B, 0x0000, 0x8086, 0x0000, 0x0000, 0x8058,
    0x0000, 0x2001, 0x7E7C, 0xFFFF, 0x1000, 0x00C8, 0x0000, 0x2704,
    0x6CC9, 0x3150, 0x070E, 0x460B, 0x2D84, 0x0100, 0xF000, 0x0706,
    0x6000, 0x0080, 0x0F04, 0x7FFF, 0x4F01, 0xC600, 0x0000, 0x20FF,
    0x0028, 0x0003, 0x0000, 0x0000, 0x0000, 0x0003, 0x0000, 0xFFFF,
    0x0100, 0xC000, 0x121C, 0xC007, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF,
    0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0x0000, 0x0120, 0xFFFF, 0x0000,
)  # fmt: skip


def _lookup(table: tuple[tuple[int, int, str], ...], starts: list[int], index: int) -> str | None:
    i = bisect.bisect_right(starts, index) - 1
    if i >= 0 and table[i][0] <= index <= table[i][1]:
        return table[i][2]
    return None


_READ_STARTS = [r[0] for r in READS]
_WRITE_STARTS = [w[0] for w in WRITES]
_ALIAS_STARTS = [a[0] for a in ALIASES]


def register_index(offset: int) -> int:
    """e1000e_get_reg_index_with_offset: the register an offset in BAR 0 reaches (through its alias)."""
    index = (offset & 0x1FFFF) >> 2
    i = bisect.bisect_right(_ALIAS_STARTS, index) - 1
    if i >= 0 and ALIASES[i][0] <= index <= ALIASES[i][1]:
        index = (index + ALIASES[i][2]) & 0xFFFF
    return index


def _mac_bytes(mac: object) -> bytes:
    if isinstance(mac, str):
        try:
            return bytes(int(b, 16) for b in mac.split(":"))[:6].ljust(6, b"\0")
        except ValueError:
            pass
    return bytes(6)


class E1000e:
    """One e1000e's MAC register file (BAR 0)."""

    def __init__(self, machine: Machine, device: Device) -> None:
        self.machine = machine
        self.device = device
        self.mac_address = _mac_bytes(device.user_props.get("mac"))
        self.regs: dict[int, int] = {}
        #: what the guest wrote to ITR/EITR (the registers hold at least MIN_XITR); kept over a reset
        self.itr_guest = 0
        self.eitr_guest = [0] * MSIX_VECTORS
        self.eeprom = self._prepare_eeprom()
        #: the I/O window's address register (a reset keeps it)
        self.ioaddr = 0
        #: the function's MSI-X (made when the guest first reaches the function)
        self.msix: Msix | None = None
        #: causes sent and not yet cleared (core->msi_causes_pending; a core reset keeps it)
        self.msi_causes_pending = 0
        #: EITR throttling: a timer per vector, and whether an interrupt waits for it
        self.eitr_timers: list[VirtualTimer] = [
            machine.vclock.timer(functools.partial(self._eitr_expired, vector)) for vector in range(MSIX_VECTORS)
        ]
        self.eitr_running = [False] * MSIX_VECTORS
        self.eitr_pending = [False] * MSIX_VECTORS
        self.reset()

    def _prepare_eeprom(self) -> list[int]:
        """e1000x_core_prepare_eeprom: the template with the MAC, the device ID and the checksum."""
        words = list(EEPROM_TEMPLATE)
        mac = self.mac_address
        for i in range(3):
            words[i] = mac[2 * i + 1] << 8 | mac[2 * i]
        words[11] = words[13] = DEVICE_ID
        words[EEPROM_CHECKSUM_REG] = (EEPROM_SUM - sum(words[:EEPROM_CHECKSUM_REG])) & 0xFFFF
        return words

    # --- device life -------------------------------------------------------------------------------

    def reset(self) -> None:
        """e1000e_qdev_reset: e1000e_core_reset (the register file from e1000e_mac_reg_init, the MAC in
        RA), then VET's VLAN ethertype unless init-vet is off (machine types before 6.0)."""
        self.regs = dict(RESET)
        self._reset_mac_addr()
        for vector in range(MSIX_VECTORS):  # e1000e_intrmgr_reset
            self._stop_eitr(vector)
        try:
            init_vet = bool(self.device.get("init-vet"))
        except QMPError:
            init_vet = True
        if init_vet:
            self.regs[VET] = ETH_P_VLAN

    def remove(self) -> None:
        """Its throttling timers go (its registers go with its PCI function)."""
        for vector in range(MSIX_VECTORS):
            self._stop_eitr(vector)

    def msix_attached(self, msix: Msix) -> None:
        """e1000e_init_msix: every vector in use."""
        self.msix = msix
        for vector in range(MSIX_VECTORS):
            msix.use(vector)

    def _reset_mac_addr(self) -> None:
        """e1000x_reset_mac_addr"""
        mac = self.mac_address
        self.regs[RA] = int.from_bytes(mac[:4], "little")
        self.regs[RA + 1] = int.from_bytes(mac[4:], "little") | RAH_AV

    def _msix_enabled(self) -> bool:
        return self.msix is not None and self.msix.enabled()

    def _get(self, index: int) -> int:
        return self.regs.get(index, 0)

    # --- BAR 0 ---------------------------------------------------------------------------------------

    def bar_read(self, bar: int, offset: int, size: int) -> int:
        """e1000e_core_read (the region is 4 bytes wide: a narrower access gets the register's low bytes); the
        other BARs are not modelled."""
        if bar == IO_BAR:
            value = self._io_read(offset)
        elif bar == 0:
            value = self._core_read(offset)
        else:
            return 0
        return value & ((1 << (8 * size)) - 1)

    def _core_read(self, offset: int) -> int:
        index = register_index(offset)
        kind = _lookup(READS, _READ_STARTS, index)
        return 0 if kind is None else self._read(kind, index)

    def _io_read(self, offset: int) -> int:
        """e1000e_io_read: IOADDR, or through IODATA the MAC register IOADDR names (flash and beyond: 0)."""
        if offset == IOADDR:
            return self.ioaddr
        if offset == IODATA and self.ioaddr < IO_MAC_LIMIT:
            return self._core_read(self.ioaddr)
        return 0

    def bar_write(self, bar: int, offset: int, size: int, value: int) -> None:
        if bar == IO_BAR:
            if offset == IOADDR:
                self.ioaddr = value & 0xFFFFFFFF
            elif offset == IODATA and self.ioaddr < IO_MAC_LIMIT:
                self._core_write(self.ioaddr, value)
        elif bar == 0:
            self._core_write(offset, value)

    def _core_write(self, offset: int, value: int) -> None:
        index = register_index(offset)
        kind = _lookup(WRITES, _WRITE_STARTS, index)
        if kind is not None:
            self._write(kind, index, value & 0xFFFFFFFF)

    # --- reads ---------------------------------------------------------------------------------------

    def _read(self, kind: str, index: int) -> int:
        value = self._get(index)
        if kind.startswith("low"):
            return value & ((1 << int(kind[3:])) - 1)
        if kind == "mac_read_clr4":
            self.regs[index] = 0
        elif kind == "mac_read_clr8":
            self.regs[index] = self.regs[index - 1] = 0
        elif kind == "get_status":
            return self._status()
        elif kind == "get_tarc":
            return value & ((1 << 11) - 1 | 0x78000000)
        elif kind == "mac_swsm_read":
            self.regs[index] = value | 1
        elif kind == "mac_icr_read":
            return self._icr_read(value)
        elif kind == "mac_itr_read":
            return self.itr_guest
        elif kind == "mac_eitr_read":
            return self.eitr_guest[index - EITR]
        return value

    def _status(self) -> int:
        """e1000e_get_status: STATUS with GIO master, duplex and speed from CTRL/CTRL_EXT."""
        ctrl = self._get(CTRL)
        res = self._get(STATUS)
        if not ctrl & CTRL_GIO_MASTER_DISABLE:
            res |= STATUS_GIO_MASTER_ENABLE
        if ctrl & CTRL_FRCDPX:
            res |= STATUS_FD if ctrl & CTRL_FD else 0
        else:
            res |= STATUS_FD
        if ctrl & CTRL_FRCSPD or self._get(CTRL_EXT) & CTRL_EXT_SPD_BYPS:
            speed = ctrl & CTRL_SPD_SEL
            res |= STATUS_SPEED_10 if speed == 0 else STATUS_SPEED_100 if speed == CTRL_SPD_100 else STATUS_SPEED_1000
        else:
            res |= STATUS_SPEED_1000
        return res

    def _icr_read(self, value: int) -> int:
        """e1000e_mac_icr_read: cleared when no cause is enabled, without MSI-X, or by IAME."""
        if self._get(IMS) == 0 or not self._msix_enabled():
            self.regs[ICR] = 0
        if self._get(ICR) & ICR_ASSERTED and self._get(CTRL_EXT) & CTRL_EXT_IAME:
            self.regs[ICR] = 0
            self.regs[IMS] = self._get(IMS) & ~self._get(IAM)
        self._update_interrupt_state()
        return value

    # --- writes --------------------------------------------------------------------------------------

    def _write(self, kind: str, index: int, value: int) -> None:
        simple = _MASKED.get(kind)
        if simple is not None:
            self.regs[index] = value & simple
            return
        handler = getattr(self, "_w_" + kind, None)
        if handler is not None:
            handler(index, value)

    def _w_set_ctrl(self, index: int, value: int) -> None:
        self.regs[CTRL] = self.regs[CTRL_DUP] = value & ~CTRL_RST  # RST clears itself
        if value & CTRL_RST:
            self._reset_mac_addr()
        if value & CTRL_PHY_RST:
            self.regs[STATUS] = self._get(STATUS) | STATUS_PHYRA

    def _w_set_status(self, index: int, value: int) -> None:
        if not value & STATUS_PHYRA:
            self.regs[STATUS] = self._get(STATUS) & ~STATUS_PHYRA

    def _w_set_ctrlext(self, index: int, value: int) -> None:
        self.regs[CTRL_EXT] = value & ~(CTRL_EXT_ASDCHK | CTRL_EXT_EE_RST)

    def _w_set_tctl(self, index: int, value: int) -> None:
        self.regs[TCTL] = value
        for queue, tarc in enumerate((TARC0, TARC1)):
            if self._get(tarc) & TARC_ENABLE:
                self._start_xmit(queue)

    def _w_set_tdt(self, index: int, value: int) -> None:
        self.regs[index] = value & 0xFFFF
        queue = 0 if index == TX_QUEUES[0][2] else 1
        if self._get((TARC0, TARC1)[queue]) & TARC_ENABLE:
            self._start_xmit(queue)

    def _start_xmit(self, queue: int) -> None:
        """e1000e_start_xmit with an empty ring: the "transmit queue empty" cause. A ring with descriptors
        would be sent (a data path, not modelled: they stay where they are)."""
        if not self._get(TCTL) & TCTL_EN:
            return
        dlen, dh, dt = TX_QUEUES[queue]
        tail = self._get(dt)
        if self._get(dh) == tail or tail >= self._get(dlen) // RING_DESC_LEN:
            self._w_set_ics(0, ICR_TXQE)

    def _w_set_rdt(self, index: int, value: int) -> None:
        self.regs[index] = value & 0xFFFF  # e1000e_start_recv: no packets queued to flush

    def _w_set_rdtr(self, index: int, value: int) -> None:
        self.regs[index] = value & 0xFFFF  # flushing delayed interrupts: no timers modelled

    _w_set_tidv = _w_set_rdtr

    def _w_set_eecd(self, index: int, value: int) -> None:
        self.regs[EECD] = (self._get(EECD) & EECD_RO_BITS) | (value & ~EECD_RO_BITS)

    def _w_set_eerd(self, index: int, value: int) -> None:
        addr = (value >> EERW_ADDR_SHIFT) & 0x3FFF
        flags = data = 0
        if addr < len(self.eeprom) and value & EERW_START:
            data, flags = self.eeprom[addr], EERW_DONE
        self.regs[EERD] = flags | addr << EERW_ADDR_SHIFT | data << EERW_DATA_SHIFT

    def _w_set_eewr(self, index: int, value: int) -> None:
        addr = (value >> EERW_ADDR_SHIFT) & 0x3FFF
        data = (value >> EERW_DATA_SHIFT) & 0xFFFF
        flags = 0
        if addr < len(self.eeprom) and value & EERW_START:
            self.eeprom[addr], flags = data, EERW_DONE
        self.regs[EERD] = flags | addr << EERW_ADDR_SHIFT | data << EERW_DATA_SHIFT

    def _w_set_gcr(self, index: int, value: int) -> None:
        self.regs[GCR] = (value & ~GCR_RO_BITS) | (self._get(GCR) & GCR_RO_BITS)

    def _w_set_psrctl(self, index: int, value: int) -> None:
        if self._get(RCTL) & RCTL_DTYP_MASK and (not value & PSRCTL_BSIZE0_MASK or not value & PSRCTL_BSIZE1_MASK):
            return  # "PSRCTL.BSIZE0/1 cannot be zero": refused
        self.regs[PSRCTL] = value

    def _w_set_rxdctl(self, index: int, value: int) -> None:
        self.regs[RXDCTL] = self.regs[RXDCTL1] = value

    def _w_set_itr(self, index: int, value: int) -> None:
        self.itr_guest = value & 0xFFFF
        self.regs[index] = max(self.itr_guest, MIN_XITR)

    def _w_set_eitr(self, index: int, value: int) -> None:
        self.eitr_guest[index - EITR] = value & 0xFFFF
        self.regs[index] = max(value & 0xFFFF, MIN_XITR)

    def _w_set_pbaclr(self, index: int, value: int) -> None:
        self.regs[PBACLR] = value & PBACLR_VALID_MASK
        if self.msix is not None and self.msix.enabled():
            for vector in range(MSIX_VECTORS):
                if self.regs[PBACLR] & (1 << vector):
                    self.msix.clear_pending(vector)

    def _w_set_ims(self, index: int, value: int) -> None:
        valid = value & IMS_VALID
        self.regs[IMS] = self._get(IMS) | valid
        ctrl_ext = self._get(CTRL_EXT)
        if valid & IMS_EXT_MASK and ctrl_ext & CTRL_EXT_PBA_CLR and self.msix is not None and self.msix.enabled():
            for cause, shift in MSIX_CAUSES:  # e1000e_msix_clear
                entry = self._get(IVAR) >> shift
                if valid & cause and entry & IVAR_VALID and entry & IVAR_VEC < MSIX_VECTORS:
                    self.msix.clear_pending(entry & IVAR_VEC)
        if valid == IMS_VALID and ctrl_ext & CTRL_EXT_TIMERS_CLEAR:
            for vector in range(MSIX_VECTORS):  # e1000e_intrmgr_fire_all_timers (no delayed causes)
                if self.eitr_running[vector]:
                    self.eitr_timers[vector].delete()
                    self._eitr_expired(vector)
        self._update_interrupt_state()

    def _w_set_imc(self, index: int, value: int) -> None:
        self.regs[IMS] = self._get(IMS) & ~value
        self._update_interrupt_state()

    def _w_set_ics(self, index: int, value: int) -> None:
        """e1000e_set_interrupt_cause (no delayed causes: no timers)."""
        self.regs[ICR] = self._get(ICR) | value
        self._update_interrupt_state()

    def _w_set_icr(self, index: int, value: int) -> None:
        icr = self._get(ICR)
        if icr & ICR_ASSERTED and self._get(CTRL_EXT) & CTRL_EXT_IAME:
            self.regs[IMS] = self._get(IMS) & ~self._get(IAM)
        icr &= ~value
        if value & ICR_OTHER:
            icr &= ~ICR_OTHER_CAUSES
        self.regs[ICR] = icr
        self._update_interrupt_state()

    def _update_interrupt_state(self) -> None:
        """e1000e_update_interrupt_state: ICR's OTHER and ASSERTED bits, ICS mirroring it, and with MSI-X
        on, the causes not sent yet sent (INTx and MSI are not modelled)."""
        msix = self._msix_enabled()
        icr = self._get(ICR)
        if msix and icr & ICR_OTHER_CAUSES:
            icr |= ICR_OTHER
        icr &= ~ICR_ASSERTED
        if icr:
            icr |= ICR_ASSERTED
        self.regs[ICR] = self.regs[ICS] = icr
        if not self._get(IMS) & icr:
            self.msi_causes_pending = 0
        elif msix:
            self._send_msix()

    def _send_msix(self) -> None:
        """e1000e_send_msi with MSI-X: the causes not already sent."""
        causes = self._get(ICR) & self._get(IMS) & ~ICR_ASSERTED
        self.msi_causes_pending &= causes
        causes ^= self.msi_causes_pending
        if not causes:
            return
        self.msi_causes_pending |= causes
        for cause, shift in MSIX_CAUSES:  # e1000e_msix_notify
            if causes & cause:
                self._notify_one(cause, self._get(IVAR) >> shift)

    def _notify_one(self, cause: int, entry: int) -> None:
        """e1000e_msix_notify_one"""
        if entry & IVAR_VALID and entry & IVAR_VEC < MSIX_VECTORS:
            vector = entry & IVAR_VEC
            if not self._eitr_postpone(vector) and self.msix is not None:
                self.msix.notify(vector)
        if self._get(CTRL_EXT) & CTRL_EXT_EIAME:
            self.regs[IAM] = self._get(IAM) & ~cause
        eiac = self._get(EIAC) & cause
        self.regs[ICR] = self._get(ICR) & ~eiac
        self.msi_causes_pending &= ~eiac
        if not self._get(CTRL_EXT) & CTRL_EXT_IAME:
            self.regs[IMS] = self._get(IMS) & ~eiac

    # --- EITR throttling ------------------------------------------------------------------------------

    def _eitr_postpone(self, vector: int) -> bool:
        """e1000e_eitr_should_postpone: wait while the vector's timer runs, else (re)arm it."""
        if self.eitr_running[vector]:
            self.eitr_pending[vector] = True
            return True
        delay = self._get(EITR + vector)
        if delay:
            self.eitr_timers[vector].mod(self.machine.vclock.now_ns() + delay * THROTTLING_NS)
            self.eitr_running[vector] = True
        return False

    def _eitr_expired(self, vector: int) -> None:
        """e1000e_intrmgr_on_msix_throttling_timer (QEMU leaves the waiting flag set)."""
        self.eitr_running[vector] = False
        if self.eitr_pending[vector] and self.msix is not None:
            self.msix.notify(vector)

    def _stop_eitr(self, vector: int) -> None:
        if self.eitr_running[vector]:
            self.eitr_timers[vector].delete()
            self.eitr_running[vector] = False


#: write handlers that store the value under a mask
_MASKED = {
    "mac_writereg": 0xFFFFFFFF,
    "mac_setmacaddr": 0xFFFFFFFF,
    "set_16bit": 0xFFFF,
    "set_12bit": 0xFFF,
    "set_dlen": XDLEN_MASK,
    "set_dbal": XDBAL_MASK,
    "set_rx_control": 0xFFFFFFFF,
    "set_rfctl": 0xFFFFFFFF,
    "set_rxcsum": 0xFFFFFFFF,
    "set_fcrth": 0xFFF8,
    "set_fcrtl": 0x8000FFF8,
    "set_vet": 0xFFFF,
}
