"""A PCI function's MSI-X table and pending bit array as QEMU 7.2's hw/pci/msix.c keeps them: the table
in its BAR (address, data, vector control; every vector masked after reset), the PBA (read-only), the
function mask from the capability's enable and mask-all bits, the vectors a device has declared used, and
msix_notify: a used vector that is masked becomes pending, an unmasked one sends its message (a 32-bit
store of its data to its address, through the function's bus-master address space); unmasking a pending
vector sends it then. The table and PBA take 32-bit (or 64-bit, split) accesses only: a narrower one is
not valid and reads as 0 (unassigned_mem_read), writes nothing.
"""

from __future__ import annotations

from fakeqemu.machine.core.ioport import MemorySpace
from fakeqemu.machine.core.pciconfig import ConfigSpace

ENTRY_SIZE = 16
VECTOR_CTRL, CTRL_MASKBIT = 12, 0x1
#: the capability's message control word and its bits (PCI_MSIX_FLAGS_ENABLE, _MASKALL)
FLAGS, ENABLE, MASKALL = 2, 0x8000, 0x4000
COMMAND_MASTER = 0x4


class Msix:
    __slots__ = ("cap", "config", "function_masked", "memory", "nvectors", "pba", "pba_at", "table", "table_at", "used")

    def __init__(self, config: ConfigSpace, cap: int) -> None:
        self.config = config
        self.cap = cap
        self.nvectors = (config.u16(cap + FLAGS) & 0x7FF) + 1
        table, pba = config.u32(cap + 4), config.u32(cap + 8)
        #: (BAR, offset) of the table and of the PBA
        self.table_at = (table & 7, table & ~7)
        self.pba_at = (pba & 7, pba & ~7)
        self.table = bytearray(self.nvectors * ENTRY_SIZE)
        self.pba = bytearray(-(-self.nvectors // 64) * 8)
        self.used = [0] * self.nvectors
        self.function_masked = True
        #: where messages go (the VM's guest-physical space), set when the function joins the host
        self.memory: MemorySpace | None = None
        self._mask_all()

    # --- state ------------------------------------------------------------------------------------

    def enabled(self) -> bool:
        return bool(self.config.u16(self.cap + FLAGS) & ENABLE)

    def _update_function_masked(self) -> None:
        self.function_masked = not self.enabled() or bool(self.config.u16(self.cap + FLAGS) & MASKALL)

    def _vector_masked(self, vector: int, fmask: bool) -> bool:
        return fmask or bool(self.table[vector * ENTRY_SIZE + VECTOR_CTRL] & CTRL_MASKBIT)

    def is_masked(self, vector: int) -> bool:
        return self._vector_masked(vector, self.function_masked)

    def _pending(self, vector: int) -> bool:
        return bool(self.pba[vector // 8] & (1 << (vector % 8)))

    def clear_pending(self, vector: int) -> None:
        """msix_clr_pending"""
        if vector < self.nvectors:
            self._set_pending(vector, False)

    def _set_pending(self, vector: int, on: bool) -> None:
        if on:
            self.pba[vector // 8] |= 1 << (vector % 8)
        else:
            self.pba[vector // 8] &= ~(1 << (vector % 8)) & 0xFF

    def _mask_update(self, vector: int, was_masked: bool) -> None:
        """msix_handle_mask_update: a vector unmasked while pending is sent now."""
        masked = self.is_masked(vector)
        if masked != was_masked and not masked and self._pending(vector):
            self._set_pending(vector, False)
            self.notify(vector)

    def _mask_all(self) -> None:
        for vector in range(self.nvectors):
            was = self.is_masked(vector)
            self.table[vector * ENTRY_SIZE + VECTOR_CTRL] |= CTRL_MASKBIT
            self._mask_update(vector, was)

    def reset(self) -> None:
        """msix_reset (the capability's writable bits are cleared by the configuration space's reset)."""
        self.pba[:] = bytes(len(self.pba))
        self.table[:] = bytes(len(self.table))
        self._update_function_masked()
        self._mask_all()

    # --- the device's side ------------------------------------------------------------------------

    def use(self, vector: int) -> None:
        if vector < self.nvectors:
            self.used[vector] += 1

    def unuse(self, vector: int) -> None:
        if vector < self.nvectors and self.used[vector]:
            self.used[vector] -= 1
            if not self.used[vector]:
                self._set_pending(vector, False)

    def unuse_all(self) -> None:
        """msix_unuse_all_vectors: nothing used, nothing pending."""
        self.used = [0] * self.nvectors
        self.pba[:] = bytes(len(self.pba))

    def notify(self, vector: int) -> None:
        """msix_notify"""
        if vector >= self.nvectors or not self.used[vector]:
            return
        if self.is_masked(vector):
            self._set_pending(vector, True)
            return
        entry = self.table[vector * ENTRY_SIZE : (vector + 1) * ENTRY_SIZE]
        address = int.from_bytes(entry[0:8], "little")
        data = int.from_bytes(entry[8:12], "little")
        # pci_msi_trigger: a store through bus_master_as, which is off while bus mastering is
        if self.memory is not None and self.config.u16(0x04) & COMMAND_MASTER:
            self.memory.dma_store(address, 4, data)

    # --- the guest's side ---------------------------------------------------------------------------

    def config_written(self, addr: int, size: int) -> None:
        """msix_write_config: a write that covers the enable/mask-all byte."""
        enable_pos = self.cap + FLAGS + 1
        if not addr <= enable_pos < addr + size:
            return
        was_masked = self.function_masked
        self._update_function_masked()
        if not self.enabled() or self.function_masked == was_masked:
            return
        for vector in range(self.nvectors):
            self._mask_update(vector, self._vector_masked(vector, was_masked))

    def region(self, bar: int, offset: int) -> str | None:
        """ "table" or "pba" where the BAR offset falls in one of them."""
        if bar == self.table_at[0] and 0 <= offset - self.table_at[1] < len(self.table):
            return "table"
        if bar == self.pba_at[0] and 0 <= offset - self.pba_at[1] < len(self.pba):
            return "pba"
        return None

    def read(self, kind: str, bar_offset: int, size: int) -> int:
        """msix_table_mmio_read / msix_pba_mmio_read (4-byte accesses inside)."""
        if size < 4:
            return 0
        if kind == "table":
            data, off = self.table, bar_offset - self.table_at[1]
        else:
            data, off = self.pba, bar_offset - self.pba_at[1]
        return int.from_bytes(data[off : off + size].ljust(size, b"\0"), "little")

    def write(self, kind: str, bar_offset: int, size: int, value: int) -> None:
        """msix_table_mmio_write (the PBA ignores writes)."""
        if kind != "table" or size < 4:
            return
        off = bar_offset - self.table_at[1]
        vector = off // ENTRY_SIZE
        was = self.is_masked(vector)
        end = min(off + size, len(self.table))
        self.table[off:end] = value.to_bytes(size, "little")[: end - off]
        self._mask_update(vector, was)
