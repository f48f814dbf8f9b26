"""An MSI-X table and pending bit array as a device's BAR shows them (hw/pci/msix.c): 16 bytes a vector
(address, data, vector control), every vector masked at realize and after a reset (msix_mask_all); 32-bit
(or 64-bit, split) accesses only, narrower ones are not valid and read as 0 (unassigned_mem_read).

No interrupts are delivered: the pending bits stay 0.
"""

from __future__ import annotations

ENTRY_SIZE = 16
VECTOR_CTRL = 12
MASKBIT = 1


class MsixTable:
    __slots__ = ("entries", "table")

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self.table = bytearray(entries * ENTRY_SIZE)
        self.reset()

    def reset(self) -> None:
        """msix_reset: the table cleared, every vector masked."""
        self.table[:] = bytes(len(self.table))
        for vector in range(self.entries):
            self.table[vector * ENTRY_SIZE + VECTOR_CTRL] = MASKBIT

    @property
    def table_size(self) -> int:
        return len(self.table)

    @property
    def pba_size(self) -> int:
        return (self.entries + 7) // 8

    def table_read(self, offset: int, size: int) -> int:
        if size < 4 or offset + size > len(self.table):
            return 0
        return int.from_bytes(self.table[offset : offset + size], "little")

    def table_write(self, offset: int, size: int, value: int) -> None:
        if size < 4 or offset + size > len(self.table):
            return
        self.table[offset : offset + size] = value.to_bytes(size, "little")

    def pba_read(self, offset: int, size: int) -> int:
        return 0
