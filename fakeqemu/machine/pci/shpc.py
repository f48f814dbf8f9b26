"""The standard hotplug controller of pci-bridge and pcie-pci-bridge (QEMU 7.2's hw/pci/shpc.c).

Its registers (31 slots: 0x24 + 4 per slot, 0xa0 bytes) are read and written through BAR 0 (any size, 1 to
4 bytes) and through the SHPC capability's window in configuration space (a DWORD select byte at +2, the
data at +4). As in QEMU, a write of the window's data writes the controller register at select * 4 with
the value of the controller's own register at the capability's offset + 4 (shpc_cap_write_config reads
``shpc->config`` where it means the PCI configuration space), and the window is refreshed only after a
write to the capability, so a read shows the register as it was then.

A slot holds PCI slot ``index + 1`` (slot 0 is not served). Reset: populated slots enabled, power LED on,
MRL closed; empty ones disabled, LED off, MRL open; every event masked. device_del of a device in a
disabled slot whose power LED is off frees it at once; otherwise the attention button is latched and the
guest decides: its slot command that disables the slot with the power LED off frees the devices there
(the SHPC eject). The interrupt locator is kept; the interrupt itself (INTx or MSI) is not raised.
"""

from __future__ import annotations

from fakeqemu.machine.core.qdev import PCIBus, PCIDevice
from fakeqemu.qmp.errors import GenericError

NSLOTS = 31
SIZEOF = 0x24 + NSLOTS * 4
CAP_ID_SHPC = 0x0C
CAP_SELECT, CAP_DATA = 0x2, 0x4

NSLOTS_REG, FIRST_DEV, PHYS_SLOT, SLOTS_33 = 0x0C, 0x0D, 0x0E, 0x04
SEC_BUS, PROG_IFC, CMD_CODE, CMD_TRGT, CMD_STATUS = 0x10, 0x13, 0x14, 0x15, 0x16
INT_LOCATOR, SERR_INT = 0x18, 0x20
PHYS_NUM_UP, PHYS_MRL, PHYS_BUTTON = 0x2000, 0x4000, 0x8000
INT_DIS, SERR_DIS, CMD_INT_DIS, ARB_SERR_DIS = 0x1, 0x2, 0x4, 0x8
CMD_DETECTED, ARB_DETECTED = 0x10000, 0x20000
STATUS_BUSY, STATUS_MRL_OPEN, STATUS_INVALID_CMD, STATUS_INVALID_MODE = 0x1, 0x2, 0x4, 0x8

STATE_MASK, PWR_LED_MASK, ATTN_LED_MASK = 0x03, 0x0C, 0x30
STATE_NO, STATE_PWRONLY, STATE_ENABLED, STATE_DISABLED = 0, 1, 2, 3
LED_NO, LED_ON, LED_BLINK, LED_OFF = 0, 1, 2, 3
SLOT_MRL_OPEN, SLOT_66, PRSNT_MASK = 0x100, 0x200, 0xC00
PRSNT_EMPTY, PRSNT_7_5W = 0x3, 0x0
EV_PRESENCE, EV_ISOLATED_FAULT, EV_BUTTON, EV_MRL, EV_CONNECTED_FAULT = 0x01, 0x02, 0x04, 0x08, 0x10
EV_MRL_SERR_DIS, EV_CONNECTED_FAULT_SERR_DIS = 0x20, 0x40
#: the slot events that can be latched (write 1 to clear), and every event's disable bit
EV_LATCHED = EV_PRESENCE | EV_ISOLATED_FAULT | EV_BUTTON | EV_MRL | EV_CONNECTED_FAULT
EV_ALL = EV_LATCHED | EV_MRL_SERR_DIS | EV_CONNECTED_FAULT_SERR_DIS


def _slot_reg(index: int) -> int:
    return 0x24 + index * 4


def _shift(mask: int) -> int:
    return (mask & -mask).bit_length() - 1


class Shpc:
    """One bridge's SHPC: its registers (the bridge function's ``model``), and the hotplug handler of its
    secondary bus (where ACPI has not taken the bus over)."""

    def __init__(self, bridge: PCIDevice) -> None:
        self.bridge = bridge
        #: the bridge's secondary bus (made before the bridge's realize sets its controller up)
        self.bus = bridge.pci_child_buses[0]
        bridge.model = self
        if bridge.pci_function is not None:
            bridge.pci_function.model = self
        self.regs = bytearray(SIZEOF)
        self.wmask = bytearray(SIZEOF)
        self.w1cmask = bytearray(SIZEOF)
        self.wmask[CMD_CODE] = 0xFF
        self.wmask[CMD_TRGT] = 0x1F
        self.wmask[SERR_INT : SERR_INT + 4] = (INT_DIS | SERR_DIS | CMD_INT_DIS | ARB_SERR_DIS).to_bytes(4, "little")
        self.w1cmask[SERR_INT : SERR_INT + 4] = (CMD_DETECTED | ARB_DETECTED).to_bytes(4, "little")
        for i in range(NSLOTS):
            self.wmask[_slot_reg(i) + 3] = EV_ALL
            self.w1cmask[_slot_reg(i) + 2] = EV_LATCHED
        self.reset()

    # --- slot status ---------------------------------------------------------------------------------

    def _status(self, index: int, mask: int) -> int:
        reg = _slot_reg(index)
        return (int.from_bytes(self.regs[reg : reg + 2], "little") & mask) >> _shift(mask)

    def _set_status(self, index: int, value: int, mask: int) -> None:
        reg = _slot_reg(index)
        word = int.from_bytes(self.regs[reg : reg + 2], "little") & ~mask | (value << _shift(mask)) & mask
        self.regs[reg : reg + 2] = word.to_bytes(2, "little")

    def _latch(self, index: int, events: int) -> None:
        self.regs[_slot_reg(index) + 2] |= events

    def _u32(self, off: int) -> int:
        return int.from_bytes(self.regs[off : off + 4], "little")

    def _set_u32(self, off: int, value: int) -> None:
        self.regs[off : off + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")

    def _interrupt_update(self) -> None:
        locator = 0
        for i in range(NSLOTS):
            reg = _slot_reg(i)
            if self.regs[reg + 2] & ~self.regs[reg + 3]:
                locator |= 1 << (i + 1)
        serr_int = self._u32(SERR_INT)
        if serr_int & CMD_DETECTED and not serr_int & CMD_INT_DIS:
            locator |= 1
        self._set_u32(INT_LOCATOR, locator)

    def reset(self) -> None:
        """shpc_reset: every register from the slots' population now."""
        self.regs[:] = bytes(SIZEOF)
        self.regs[NSLOTS_REG] = NSLOTS
        self._set_u32(SLOTS_33, NSLOTS)
        self.regs[FIRST_DEV] = 1
        self.regs[PHYS_SLOT : PHYS_SLOT + 2] = (1 | PHYS_NUM_UP | PHYS_MRL | PHYS_BUTTON).to_bytes(2, "little")
        self._set_u32(SERR_INT, INT_DIS | SERR_DIS | CMD_INT_DIS | ARB_SERR_DIS)
        self.regs[PROG_IFC] = 1
        for i in range(NSLOTS):
            self.regs[_slot_reg(i) + 3] = EV_ALL
            if self.bus.find_devfn((i + 1) << 3) is not None:
                self._set_status(i, STATE_ENABLED, STATE_MASK)
                self._set_status(i, 0, SLOT_MRL_OPEN)
                self._set_status(i, PRSNT_7_5W, PRSNT_MASK)
                self._set_status(i, LED_ON, PWR_LED_MASK)
            else:
                self._set_status(i, STATE_DISABLED, STATE_MASK)
                self._set_status(i, 1, SLOT_MRL_OPEN)
                self._set_status(i, PRSNT_EMPTY, PRSNT_MASK)
                self._set_status(i, LED_OFF, PWR_LED_MASK)
        self._interrupt_update()

    def bus_reset(self, bus: PCIBus) -> None:
        self.reset()

    # --- HotplugHandler ------------------------------------------------------------------------------

    def _index(self, dev: PCIDevice) -> int:
        """shpc_device_plug_common: the slot index of a device (PCI slots 1 to 31)."""
        if not 1 <= dev.slot <= NSLOTS:
            raise GenericError(
                f"Unsupported PCI slot {dev.slot} for standard hotplug controller. "
                f"Valid slots are between 1 and {NSLOTS}."
            )
        return dev.slot - 1

    def pre_plug(self, bus: PCIBus, dev: PCIDevice) -> None:
        pass

    def plug(self, bus: PCIBus, dev: PCIDevice, hotplugged: bool) -> None:
        index = self._index(dev)
        if not hotplugged:
            self._set_status(index, 0, SLOT_MRL_OPEN)
            self._set_status(index, PRSNT_7_5W, PRSNT_MASK)
            return
        if self._status(index, SLOT_MRL_OPEN):
            self._set_status(index, 0, SLOT_MRL_OPEN)
            self._set_status(index, PRSNT_7_5W, PRSNT_MASK)
            self._latch(index, EV_BUTTON | EV_MRL | EV_PRESENCE)
        else:
            self._latch(index, EV_BUTTON)  # the attention button cancels a removal
        self._set_status(index, 0, SLOT_66)
        self._interrupt_update()

    def unplug_request(self, bus: PCIBus, dev: PCIDevice) -> None:
        index = self._index(dev)
        if self._status(index, STATE_MASK) == STATE_DISABLED and self._status(index, PWR_LED_MASK) == LED_OFF:
            self._free(index)
        else:
            self._latch(index, EV_BUTTON)
        self._set_status(index, 0, SLOT_66)
        self._interrupt_update()

    def _free(self, index: int) -> None:
        """shpc_free_devices_in_slot, then the slot reads empty with its MRL open."""
        for fn in reversed(self.bus.devices_in_slot(index + 1)):
            fn.unparent()
        self._set_status(index, 1, SLOT_MRL_OPEN)
        self._set_status(index, PRSNT_EMPTY, PRSNT_MASK)
        self._latch(index, EV_MRL | EV_PRESENCE)

    # --- registers -----------------------------------------------------------------------------------

    def read(self, addr: int, size: int) -> int:
        if addr >= SIZEOF:
            return 0
        return int.from_bytes(self.regs[addr : min(addr + size, SIZEOF)], "little")

    def write(self, addr: int, size: int, value: int) -> None:
        if addr >= SIZEOF:
            return
        end = min(addr + size, SIZEOF)
        for a in range(addr, end):
            byte = value & 0xFF
            value >>= 8
            self.regs[a] = (self.regs[a] & ~self.wmask[a] | byte & self.wmask[a]) & ~(byte & self.w1cmask[a])
        if addr < CMD_CODE + 2 and end > CMD_CODE:
            self._command()
        self._interrupt_update()

    def _invalid(self) -> None:
        self.regs[CMD_STATUS] |= STATUS_INVALID_CMD

    def _slot_command(self, target: int, state: int, power: int, attn: int) -> None:
        index = target - 1
        if target < 1 or index >= NSLOTS:
            self._invalid()
            return
        current = self._status(index, STATE_MASK)
        if current == STATE_ENABLED and state == STATE_PWRONLY:
            self._invalid()
            return
        if power != LED_NO:
            self._set_status(index, power, PWR_LED_MASK)
        if attn != LED_NO:
            self._set_status(index, attn, ATTN_LED_MASK)
        if current == STATE_DISABLED and state in (STATE_PWRONLY, STATE_ENABLED):
            self._set_status(index, state, STATE_MASK)
        elif current in (STATE_ENABLED, STATE_PWRONLY) and state == STATE_DISABLED:
            self._set_status(index, state, STATE_MASK)
            if self._status(index, PWR_LED_MASK) == LED_OFF:  # the guest's eject
                self._free(index)

    def _command(self) -> None:
        """shpc_command: a slot command (0x00-0x3f), a bus speed (0x40-0x47), power-only or enable all."""
        code = self.regs[CMD_CODE]
        self.regs[CMD_STATUS] &= ~(STATUS_BUSY | STATUS_MRL_OPEN | STATUS_INVALID_CMD | STATUS_INVALID_MODE)
        if code <= 0x3F:
            target = self.regs[CMD_TRGT] & 0x1F
            self._slot_command(target, code & STATE_MASK, (code & PWR_LED_MASK) >> 2, (code & ATTN_LED_MASK) >> 4)
        elif code <= 0x47:
            if code & 0x7:
                self.regs[CMD_STATUS] |= STATUS_INVALID_MODE
            else:
                self.regs[SEC_BUS] &= ~0x7
        elif code in (0x48, 0x49):
            if any(self._status(i, STATE_MASK) == STATE_ENABLED for i in range(NSLOTS)):
                self._invalid()
            else:
                state = STATE_PWRONLY if code == 0x48 else STATE_ENABLED
                for i in range(NSLOTS):
                    if not self._status(i, SLOT_MRL_OPEN):
                        self._slot_command(i + 1, state, LED_ON, LED_NO)
                    else:
                        self._slot_command(i + 1, STATE_NO, LED_OFF, LED_NO)
        else:
            self._invalid()
        self._set_u32(SERR_INT, self._u32(SERR_INT) | CMD_DETECTED)

    # --- the function's accesses ---------------------------------------------------------------------

    def bar_read(self, bar: int, offset: int, size: int) -> int:
        return self.read(offset, size) if bar == 0 else 0

    def bar_write(self, bar: int, offset: int, size: int, value: int) -> None:
        if bar == 0:
            self.write(offset, size, value)

    def config_write(self, addr: int, size: int, value: int) -> bool:
        """pci_bridge_write_config, then shpc_cap_write_config: a write that touches the capability
        refreshes its data window (after writing the selected register, when the data was written)."""
        fn = self.bridge.pci_function
        if fn is None:
            return False
        fn.config.write(addr, size, value)
        cap = next((off for cap, off in fn.config.capabilities() if cap == CAP_ID_SHPC), None)
        if cap is None or addr >= cap + 8 or addr + size <= cap:
            return True
        select = fn.config.u8(cap + CAP_SELECT)
        if addr < cap + CAP_DATA + 4 and addr + size > cap + CAP_DATA:
            self.write(select * 4, 4, self.read(cap + CAP_DATA, 4))  # QEMU reads its own registers here
        fn.config.data[cap + CAP_DATA : cap + CAP_DATA + 4] = self.read(select * 4, 4).to_bytes(4, "little")
        return True
