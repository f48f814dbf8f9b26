"""One PCI function's configuration space as a guest sees it: the bytes, which bits a write changes (QEMU's
``wmask``), and what the header says about its BARs, bridge windows and bus numbers.

No board knowledge: the initial bytes and masks come from fakeqemu.machine.pci (recorded from QEMU 7.2).
"""

from __future__ import annotations

from dataclasses import dataclass

COMMAND = 0x04
COMMAND_IO = 0x1
COMMAND_MEMORY = 0x2
HEADER_TYPE = 0x0E
CAPABILITY_LIST = 0x34
UNMAPPED = -1


@dataclass(frozen=True, slots=True)
class Bar:
    """A base address register as decoded now: I/O or memory, its address and size."""

    index: int
    io: bool
    address: int  # UNMAPPED while decoding is off or the BAR holds 0
    size: int
    mem64: bool
    prefetch: bool


class ConfigSpace:
    __slots__ = ("_initial", "data", "registered", "wmask")

    def __init__(self, data: bytes, wmask: bytes) -> None:
        self._initial = bytes(data)
        self.data = bytearray(data)
        self.wmask = wmask
        #: BARs a device model registered itself (pci_register_bar): index -> (type bits, size), where a
        #: size below 16 bytes cannot be read from the writable bits
        self.registered: dict[int, tuple[int, int]] = {}

    @property
    def size(self) -> int:
        return len(self.data)

    def reset(self) -> None:
        """pci_do_device_reset, as far as anything a guest wrote: back to the device's start state."""
        self.data[:] = self._initial

    def patch(self, addr: int, data: bytes) -> None:
        """Change the start state (what the device is built with), as well as the bytes now."""
        self._initial = self._initial[:addr] + data + self._initial[addr + len(data) :]
        self.data[addr : addr + len(data)] = data

    def initial(self, addr: int, size: int) -> int:
        """The value the function started with (and goes back to on reset)."""
        return int.from_bytes(self._initial[addr : addr + size], "little")

    def read(self, addr: int, size: int) -> int:
        """A config read of ``size`` bytes; past the end of the space reads all ones."""
        if addr + size > len(self.data):
            return (1 << (8 * size)) - 1
        return int.from_bytes(self.data[addr : addr + size], "little")

    def write(self, addr: int, size: int, value: int) -> None:
        for i in range(size):
            a = addr + i
            if a >= len(self.data):
                break
            mask = self.wmask[a]
            byte = (value >> (8 * i)) & 0xFF
            self.data[a] = (self.data[a] & ~mask & 0xFF) | (byte & mask)

    def register_bar(self, index: int, flags: int, size: int) -> None:
        """pci_register_bar: BAR ``index`` of ``size`` bytes (a power of two) with its type bits ``flags``;
        the writable bits are the size's (a 64-bit memory BAR takes the next register too)."""
        off = 0x10 + 4 * index
        wide = not flags & 1 and flags & 4
        width = 8 if wide else 4
        wmask = bytearray(self.wmask)
        wmask[off : off + width] = (~(size - 1) & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
        self.wmask = bytes(wmask)
        initial = bytearray(self._initial)
        for space in (initial, self.data):
            space[off : off + width] = flags.to_bytes(width, "little")
        self._initial = bytes(initial)
        self.registered[index] = (flags, size)

    def set_initial(self, addr: int, size: int, value: int) -> None:
        """A register the device's realize sets (both now and after a reset)."""
        raw = value.to_bytes(size, "little")
        self.data[addr : addr + size] = raw
        self._initial = self._initial[:addr] + raw + self._initial[addr + size :]

    def u8(self, addr: int) -> int:
        return self.data[addr]

    def u16(self, addr: int) -> int:
        return self.read(addr, 2)

    def u32(self, addr: int) -> int:
        return self.read(addr, 4)

    @property
    def is_bridge(self) -> bool:
        return self.data[HEADER_TYPE] & 0x7F == 1

    def capabilities(self) -> list[tuple[int, int]]:
        """(capability id, offset) in list order."""
        out: list[tuple[int, int]] = []
        if not self.u16(0x06) & 0x10:
            return out
        ptr = self.data[CAPABILITY_LIST] & 0xFC
        while ptr and len(out) < 48:
            out.append((self.data[ptr], ptr))
            ptr = self.data[ptr + 1] & 0xFC
        return out

    def bars(self) -> list[Bar]:
        """The implemented BARs (pci_bar_address): an address only while I/O or memory decoding is on."""
        out: list[Bar] = []
        command = self.u16(COMMAND)
        count = 2 if self.is_bridge else 6
        i = 0
        while i < count:
            off = 0x10 + 4 * i
            mask = int.from_bytes(self.wmask[off : off + 4], "little")
            if not mask:
                i += 1
                continue
            value = self.u32(off)
            if value & 1:
                size = (~(mask & ~3) + 1) & 0xFFFFFFFF  # the flag bits are read-only (0 in wmask)
                addr = value & ~3 & 0xFFFFFFFF & ~(size - 1)
                on = command & COMMAND_IO and addr and addr + size <= 0x10000
                out.append(Bar(i, True, addr if on else UNMAPPED, size, False, False))
                i += 1
                continue
            mem64 = (value >> 1) & 3 == 2
            full_mask = mask
            if mem64:
                full_mask |= int.from_bytes(self.wmask[off + 4 : off + 8], "little") << 32
                value |= self.u32(off + 4) << 32
            bits = 64 if mem64 else 32
            size = (~(full_mask & ~0xF) + 1) & ((1 << bits) - 1)
            prefetch = bool(value & 8)
            if i in self.registered:  # pci_bar_address: the registered size and type
                flags, size = self.registered[i]
                prefetch = bool(flags & 8)
            addr = value & ~7 & ~(size - 1) & ((1 << bits) - 1)
            on = command & COMMAND_MEMORY and addr and size and (mem64 or addr + size - 1 < 0xFFFFFFFF)
            out.append(Bar(i, False, addr if on else UNMAPPED, size, mem64, prefetch))
            i += 2 if mem64 else 1
        return out

    # --- type 1 (bridge) header --------------------------------------------------------------------

    def bus_numbers(self) -> tuple[int, int, int]:
        """(primary, secondary, subordinate)."""
        return self.data[0x18], self.data[0x19], self.data[0x1A]

    def ranges(self) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        """A bridge's I/O, memory and prefetchable (base, limit) as its registers say
        (pci_bridge_get_base/limit), decoding on or off."""
        io_base = (self.data[0x1C] & 0xF0) << 8
        io_limit = ((self.data[0x1D] & 0xF0) << 8) | 0xFFF
        if self.data[0x1C] & 0xF == 1:
            io_base |= self.u16(0x30) << 16
            io_limit |= self.u16(0x32) << 16
        mem = ((self.u16(0x20) & 0xFFF0) << 16, ((self.u16(0x22) & 0xFFF0) << 16) | 0xFFFFF)
        pref_base = (self.u16(0x24) & 0xFFF0) << 16
        pref_limit = ((self.u16(0x26) & 0xFFF0) << 16) | 0xFFFFF
        if self.u16(0x24) & 0xF == 1:
            pref_base |= self.u32(0x28) << 32
            pref_limit |= self.u32(0x2C) << 32
        return (io_base, io_limit), mem, (pref_base, pref_limit)

    def windows(self) -> list[tuple[bool, int, int]]:
        """The forwarding windows of a bridge as (io, base, limit), only while it decodes that space."""
        command = self.u16(COMMAND)
        io, mem, pref = self.ranges()
        out: list[tuple[bool, int, int]] = []
        if command & COMMAND_IO:
            out.append((True, *io))
        if command & COMMAND_MEMORY:
            out += [(False, *mem), (False, *pref)]
        return out

    def rom_size(self) -> int:
        """The expansion ROM's size (0: none), from the bits its register lets a write change."""
        off = 0x38 if self.is_bridge else 0x30
        mask = int.from_bytes(self.wmask[off : off + 4], "little") & 0xFFFFF800
        return (~mask + 1) & 0xFFFFFFFF if mask else 0

    def rom_address(self, size: int) -> int:
        """The expansion ROM's address while enabled and memory decoding is on (pci_bar_address)."""
        reg = self.u32(0x38 if self.is_bridge else 0x30)
        if not self.u16(COMMAND) & COMMAND_MEMORY or not reg & 1:
            return UNMAPPED
        addr = reg & ~(size - 1) & 0xFFFFFFFF
        return addr if addr and addr + size - 1 < 0xFFFFFFFF else UNMAPPED
